import { Type } from 'typebox';

// The identity sections of the config schema (./schema.ts): OpenID Connect providers, e-mail.

const OidcProvider = Type.Object(
  {
    preset: Type.Optional(
      Type.Literal('google', {
        description: 'A known provider: "google" sets issuer to https://accounts.google.com.',
      }),
    ),
    issuer: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'Issuer URL; its /.well-known/openid-configuration is fetched (discovery). https only; plain http is accepted outside production (loopback tests, local development).',
      }),
    ),
    clientId: Type.String({ minLength: 1, maxLength: 512, description: 'OAuth client id.' }),
    clientSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          'Client secret (client_secret_basic). Never logged. Set this or privateKeyFile.',
      }),
    ),
    privateKeyFile: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          'Private key (PKCS#8 PEM or a private JWK in JSON) for private_key_jwt client authentication, instead of clientSecret.',
      }),
    ),
    privateKeyAlgorithm: Type.Union(
      [Type.Literal('RS256'), Type.Literal('PS256'), Type.Literal('ES256'), Type.Literal('EdDSA')],
      { default: 'RS256', description: 'Signing algorithm of the private_key_jwt assertion.' },
    ),
    scopes: Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,64}$' }), {
      default: ['openid', 'email', 'profile'],
      minItems: 1,
      maxItems: 32,
      description: 'Scopes requested; must include openid (and email, which new accounts need).',
    }),
    redirectUri: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'The callback URL registered at the provider: <public URL>/api/v1/auth/oidc/<name>/callback. https only outside development.',
    }),
    appUrls: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
      minItems: 1,
      maxItems: 16,
      description:
        'Front-end URLs the callback may hand the one-time code to (exact match; the first is the default). https only outside development.',
    }),
    allowLinkingVerifiedEmail: Type.Boolean({
      default: false,
      description:
        "Link a first sign-in to an existing account with the same email, only when the provider says the email is verified and the account's own email is verified. Off: such sign-ins are refused, and accounts this provider creates start with emailVerified false.",
    }),
  },
  { additionalProperties: false },
);

/** Sign-in with OpenID Connect providers, and its cookies' lifetimes. */
export const OidcSettings = Type.Object(
  {
    providers: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }), OidcProvider, {
      additionalProperties: false,
      default: {},
      description:
        'OpenID Connect sign-in providers by name (the name is part of the URLs), e.g. {"google": {"preset": "google", "clientId": "...", "clientSecret": "...", "redirectUri": "...", "appUrls": ["..."]}}. Empty: OIDC sign-in is off.',
    }),
    cookieSecure: Type.Boolean({
      default: true,
      description:
        'Mark the sign-in cookies Secure (sent over HTTPS only). Turn off only for plain-http local development; refused in production.',
    }),
    loginTtlSeconds: Type.Integer({
      default: 600,
      minimum: 60,
      maximum: 3_600,
      description: 'How long a started sign-in may take at the provider (10 minutes).',
    }),
    handoffTtlSeconds: Type.Integer({
      default: 60,
      minimum: 10,
      maximum: 300,
      description: 'Lifetime of the one-time code the front end exchanges for tokens.',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** E-mail: SMTP, the links sent and their lifetimes, limits and the send queue. */
export const EmailSettings = Type.Object(
  {
    smtpUrl: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'SMTP server for account e-mails: smtps://user:password@host:465 (TLS) or smtp://user:password@host:587 (STARTTLS, required except on loopback). Never logged. Alone it sends the security notices (password changed, MFA on or off, a sign-in provider linked or removed); with passwordResetUrl, verifyEmailUrl and/or changeEmailUrl also those links. Unset: no account e-mails.',
      }),
    ),
    smtpCaFile: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          "PEM file of extra certificate authorities trusted for the SMTP server's certificate (a private CA). The certificate is always verified.",
      }),
    ),
    outboxDir: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          'Development only: write account e-mails as .eml files (mode 0600) to this directory instead of sending them. Refused in production.',
      }),
    ),
    newSignInNotices: Type.Boolean({
      default: true,
      description:
        "E-mail the owner when their account is signed in to from a network none of its kept sessions came from (an IPv4 /24, an IPv6 /48), as OWASP ASVS V2.2.3 asks; not on a new account's first sign-in. Needs email.smtpUrl.",
    }),
    from: Type.String({
      default: 'Bulwark <no-reply@localhost>',
      minLength: 3,
      maxLength: 320,
      pattern: '^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]+$',
      description: 'The From of account e-mails, e.g. "Example <no-reply@example.com>".',
    }),
    passwordResetUrl: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'The front-end page that sets a new password; the e-mailed link is this URL with #token=<token> (a fragment: never sent to any server). Set: POST /api/v1/auth/password/forgot and /reset answer. https only in production.',
      }),
    ),
    verifyEmailUrl: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'The front-end page that verifies an address; the e-mailed link is this URL with #token=<token>. Set: new accounts get a verification e-mail, and /api/v1/auth/email/* answer. https only in production.',
      }),
    ),
    changeEmailUrl: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          "The front-end page that confirms an address change; the link e-mailed to the new address is this URL with #token=<token>, opened by the account's own signed-in session. Set: POST /api/v1/auth/email/change and /change/confirm answer. https only in production.",
      }),
    ),
    passwordResetTtlSeconds: Type.Integer({
      default: 1_800,
      minimum: 300,
      maximum: 86_400,
      description: 'How long a password reset link works (30 minutes); it works once.',
    }),
    verificationTtlSeconds: Type.Integer({
      default: 86_400,
      minimum: 600,
      maximum: 604_800,
      description: 'How long an address verification link works (24 hours); it works once.',
    }),
    changeEmailTtlSeconds: Type.Integer({
      default: 3_600,
      minimum: 600,
      maximum: 86_400,
      description: 'How long an address change link works (1 hour); it works once.',
    }),
    perAccountPerHour: Type.Integer({
      default: 5,
      minimum: 1,
      maximum: 1_000,
      description:
        'Reset, verification and address change e-mails one account may be sent per hour; further requests send nothing (a flood of mail is abuse).',
    }),
    timeoutMs: Type.Integer({
      default: 10_000,
      minimum: 100,
      maximum: 120_000,
      description: 'Upper bound of each SMTP step (connect, greeting, each command).',
    }),
    maxAttempts: Type.Integer({
      default: 3,
      minimum: 1,
      maximum: 10,
      description:
        'Delivery attempts per e-mail, the first included; only temporary failures are retried.',
    }),
    queueSize: Type.Integer({
      default: 1_000,
      minimum: 1,
      maximum: 100_000,
      description:
        'E-mails waiting to be sent; when full, new ones are not sent (logged and counted).',
    }),
  },
  { additionalProperties: false, default: {} },
);
