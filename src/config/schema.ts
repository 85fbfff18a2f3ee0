import { Type, type Static } from 'typebox';
import { SECURITY_EVENT_TYPES, type SecurityEventType } from '../security-events.js';

/*
 * The one configuration schema. Every setting has a default (secure unless its name says
 * otherwise) and, where it has one, its unit in its name (`...Ms`, `...Seconds`, `...Bytes`).
 * Each leaf is settable from the environment as BULWARK_<PATH> (see ./env.ts), from a JSON file
 * given with --config, or programmatically through createConfig(). docs/config.md lists them all.
 */

const Origin = Type.String({ minLength: 1, maxLength: 2048 });

// Built from the catalog; Unsafe gives it the catalog's union type, which TypeBox cannot infer
// from a mapped (non-tuple) array of literals.
const SecurityEventTypeSchema = Type.Unsafe<SecurityEventType>(
  Type.Union(SECURITY_EVENT_TYPES.map((type) => Type.Literal(type))),
);

const VersionDeprecation = Type.Object(
  {
    deprecatedAt: Type.String({
      format: 'date-time',
      description: 'When the version was (or will be) deprecated, RFC 3339 date-time.',
    }),
    sunsetAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'When the version stops answering (410 afterwards), RFC 3339 date-time.',
      }),
    ),
    successor: Type.Optional(
      Type.String({
        pattern: '^/api/v[1-9][0-9]*$',
        maxLength: 32,
        description: 'Path of the successor version, sent as Link rel="successor-version".',
      }),
    ),
  },
  { additionalProperties: false },
);

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

/** The one config schema: every setting with its default, unit and meaning (docs/config.md). */
export const ConfigSchema = Type.Object(
  {
    env: Type.Union(
      [Type.Literal('development'), Type.Literal('production'), Type.Literal('test')],
      {
        default: 'development',
        description: 'Deployment environment. production turns on the strict posture checks.',
      },
    ),
    server: Type.Object(
      {
        host: Type.String({
          default: '127.0.0.1',
          minLength: 1,
          maxLength: 255,
          description: 'Address to listen on.',
        }),
        port: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'TCP port.' }),
        trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          default: [],
          maxItems: 64,
          description:
            'Addresses or CIDRs of reverse proxies whose X-Forwarded-* headers are trusted. Empty: none.',
        }),
        shutdownTimeoutMs: Type.Integer({
          default: 10_000,
          minimum: 0,
          maximum: 600_000,
          description: 'How long in-flight requests may take to finish after SIGTERM/SIGINT.',
        }),
        requestTimeoutMs: Type.Integer({
          default: 30_000,
          minimum: 1_000,
          maximum: 600_000,
          description:
            'Upper bound for receiving a whole request (slowloris protection), and for a TLS handshake. A connection on which nothing moves for twice this long is closed.',
        }),
        keepAliveTimeoutMs: Type.Integer({
          default: 5_000,
          minimum: 0,
          maximum: 600_000,
          description: 'Idle keep-alive timeout of client connections.',
        }),
        publicOrigin: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description:
              'The https:// origin clients use (https://api.example.com[:port]); the redirect listener sends everyone there. Never taken from the Host header.',
          }),
        ),
        httpRedirectPort: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 65_535,
            description:
              'Port of an extra plain-HTTP listener (on server.host) that answers every request with 308 to server.publicOrigin. Unset: none.',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    tls: Type.Object(
      {
        certFile: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 1024,
            description:
              'PEM certificate chain (leaf first). With tls.keyFile the service serves HTTPS itself; both are re-read on SIGHUP.',
          }),
        ),
        keyFile: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 1024,
            description: 'PEM private key of tls.certFile (keep it mode 0600).',
          }),
        ),
        passphrase: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 1024,
            description: 'Passphrase of an encrypted tls.keyFile.',
          }),
        ),
        minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], {
          default: 'TLSv1.2',
          description:
            'Oldest TLS version accepted. TLS 1.2 allows only ECDHE key exchange with AEAD ciphers.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    hsts: Type.Object(
      {
        maxAgeSeconds: Type.Integer({
          default: 31_536_000,
          minimum: 86_400,
          maximum: 63_072_000,
          description:
            'max-age of Strict-Transport-Security, sent (with includeSubDomains) on HTTPS responses only (1 year).',
        }),
        preload: Type.Boolean({
          default: false,
          description:
            'Add `preload` (asks browsers to hard-code HTTPS for the whole domain; hard to undo). Needs maxAgeSeconds >= 31536000.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    http: Type.Object(
      {
        bodyLimitBytes: Type.Integer({
          default: 102_400,
          minimum: 1_024,
          maximum: 10_485_760,
          description: 'Largest accepted request body. Larger bodies get 413 payload_too_large.',
        }),
        maxJsonDepth: Type.Integer({
          default: 32,
          minimum: 2,
          maximum: 256,
          description: 'Deepest accepted nesting of objects and arrays in a JSON body.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    cors: Type.Object(
      {
        origins: Type.Array(Origin, {
          default: [],
          maxItems: 256,
          description:
            'Exact origins (scheme://host[:port]) allowed to call the API from a browser. Empty: none.',
        }),
        credentials: Type.Boolean({
          default: false,
          description: 'Send Access-Control-Allow-Credentials to listed origins.',
        }),
        maxAgeSeconds: Type.Integer({
          default: 600,
          minimum: 0,
          maximum: 86_400,
          description: 'How long browsers may cache a preflight answer.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    api: Type.Object(
      {
        deprecations: Type.Record(Type.String({ pattern: '^[1-9][0-9]*$' }), VersionDeprecation, {
          additionalProperties: false,
          default: {},
          description:
            'Deprecated API versions by number, e.g. {"1": {"deprecatedAt": "...", "sunsetAt": "..."}}.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    database: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description:
              'PostgreSQL connection URL (postgres://...). Unset: the embedded SQLite file.',
          }),
        ),
        sqlitePath: Type.String({
          default: './data/bulwark.db',
          minLength: 1,
          maxLength: 1024,
          description:
            'SQLite database file used when database.url is unset (":memory:" for a throwaway one).',
        }),
        migrateOnStart: Type.Boolean({
          default: true,
          description: 'Apply pending migrations at start. Off: run `bulwark migrate` yourself.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    keys: Type.Object(
      {
        masterKey: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 4096,
            description:
              'Master key: 32 random bytes in base64, or "version:base64" entries separated by commas (highest version is current).',
          }),
        ),
        masterKeyFile: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 1024,
            description:
              'JSON key file {"current": n, "keys": {"n": "<base64>"}} (mode 0600) instead of keys.masterKey.',
          }),
        ),
        currentVersion: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 2_147_483_647,
            description:
              'Master key version new values are encrypted with. Unset: the key file\'s "current", or the highest version of keys.masterKey. Set it to the old version while a new one is rolled out to every instance, so no instance meets data under a version it does not have yet.',
          }),
        ),
        devKeyFile: Type.String({
          default: './data/master-key.json',
          minLength: 1,
          maxLength: 1024,
          description:
            'Outside production, with no master key configured, a key is generated here (mode 0600) with a warning.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    passwords: Type.Object(
      {
        minLength: Type.Integer({
          default: 12,
          minimum: 8,
          maximum: 64,
          description:
            'Shortest accepted password, in characters (NIST SP 800-63B: at least 8; 12+ advised).',
        }),
        maxLength: Type.Integer({
          default: 128,
          minimum: 64,
          maximum: 512,
          description: 'Longest accepted password, in characters.',
        }),
        argon2MemoryKiB: Type.Integer({
          default: 19_456,
          minimum: 1_024,
          maximum: 1_048_576,
          description: 'argon2id memory cost in KiB (OWASP: 19456 = 19 MiB).',
        }),
        argon2Iterations: Type.Integer({
          default: 2,
          minimum: 1,
          maximum: 20,
          description: 'argon2id time cost (OWASP: 2).',
        }),
        argon2Parallelism: Type.Integer({
          default: 1,
          minimum: 1,
          maximum: 16,
          description: 'argon2id lanes (OWASP: 1).',
        }),
        maxConcurrentHashes: Type.Integer({
          default: 0,
          minimum: 0,
          maximum: 256,
          description:
            'Hashes computed at once; more wait in a queue, bounding memory. 0: one per CPU core.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    tokens: Type.Object(
      {
        issuer: Type.String({
          default: 'bulwark',
          minLength: 1,
          maxLength: 512,
          description: 'The `iss` of access tokens; usually the public URL of the service.',
        }),
        audience: Type.String({
          default: 'bulwark-api',
          minLength: 1,
          maxLength: 512,
          description: 'The `aud` of access tokens.',
        }),
        algorithm: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], {
          default: 'EdDSA',
          description: 'Signature algorithm of access tokens: EdDSA (Ed25519) or ES256 (P-256).',
        }),
        accessTokenTtlSeconds: Type.Integer({
          default: 900,
          minimum: 30,
          maximum: 86_400,
          description: 'Lifetime of an access token.',
        }),
        refreshIdleTtlSeconds: Type.Integer({
          default: 1_209_600,
          minimum: 60,
          maximum: 31_536_000,
          description: 'A refresh token unused for this long expires (14 days).',
        }),
        refreshAbsoluteTtlSeconds: Type.Integer({
          default: 2_592_000,
          minimum: 300,
          maximum: 31_536_000,
          description: 'A session ends this long after login whatever its activity (30 days).',
        }),
        sessionRetentionSeconds: Type.Integer({
          default: 2_592_000,
          minimum: 3_600,
          maximum: 315_360_000,
          description:
            'Ended or expired sessions, with their refresh tokens, expired e-mail links and signing keys that stopped verifying are deleted this long after they ended (30 days); their events stay in the audit log.',
        }),
        refreshReuseGraceSeconds: Type.Integer({
          default: 10,
          minimum: 0,
          maximum: 300,
          description:
            'A rotated refresh token presented again within this window is refused without ending the session (client retries, parallel tabs).',
        }),
        clockToleranceSeconds: Type.Integer({
          default: 5,
          minimum: 0,
          maximum: 300,
          description: 'Allowed clock skew when checking exp/iat.',
        }),
        keyPublishAheadSeconds: Type.Integer({
          default: 600,
          minimum: 0,
          maximum: 604_800,
          description:
            'A key made by `bulwark keys rotate` is in the JWKS this long before it signs (10 minutes), so verifiers that cache the JWKS (served with max-age=300) know it before they meet its tokens; the current key signs until then. 0: it signs at once. `keys rotate --now` always does.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    access: Type.Object(
      {
        roles: Type.Record(
          Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }),
          Type.Array(
            Type.String({ pattern: '^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$', maxLength: 64 }),
            {
              maxItems: 64,
            },
          ),
          {
            additionalProperties: false,
            default: {
              admin: ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
              user: [],
            },
            description:
              'Roles and the permissions they grant (every user may read and edit itself).',
          },
        ),
        defaultRole: Type.String({
          default: 'user',
          pattern: '^[a-z][a-z0-9_-]{0,31}$',
          description: 'Role given to self-registered users.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description:
              'Redis URL (redis:// or rediss://) for state shared by instances: rate-limit counters and session revocation. Unset: per-process memory.',
          }),
        ),
        keyPrefix: Type.String({
          default: 'bulwark:',
          minLength: 1,
          maxLength: 64,
          pattern: '^[A-Za-z0-9:_.-]+$',
          description:
            'Prefix of every Redis key and channel, so several deployments can share one Redis.',
        }),
        onOutage: Type.Union([Type.Literal('failOpen'), Type.Literal('failClosed')], {
          default: 'failOpen',
          description:
            'While Redis is unreachable: failOpen keeps serving with per-instance memory limits (readiness says degraded); failClosed answers 503 on rate-limited routes.',
        }),
        commandTimeoutMs: Type.Integer({
          default: 500,
          minimum: 50,
          maximum: 10_000,
          description: 'A Redis command slower than this counts as an outage for that request.',
        }),
        connectTimeoutMs: Type.Integer({
          default: 2_000,
          minimum: 100,
          maximum: 60_000,
          description: 'Timeout of one connection attempt; reconnection never stops.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    rateLimit: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description:
            'Rate limits and login throttling. Turning them off logs a warning at start; raise the limits instead.',
        }),
        memoryMaxKeys: Type.Integer({
          default: 100_000,
          minimum: 100,
          maximum: 10_000_000,
          description:
            'Counters kept per policy by the memory store (and the Redis fallback); the oldest are dropped first.',
        }),
        general: Type.Object(
          {
            points: Type.Integer({
              default: 300,
              minimum: 1,
              maximum: 1_000_000,
              description:
                'Requests a client (IP, or user when authenticated) may make per window on every route.',
            }),
            durationSeconds: Type.Integer({
              default: 60,
              minimum: 1,
              maximum: 86_400,
              description: 'Window of the general limit.',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        auth: Type.Object(
          {
            points: Type.Integer({
              default: 20,
              minimum: 1,
              maximum: 1_000_000,
              description:
                'Requests a client may make per window to register, login, refresh and password (on top of the general limit).',
            }),
            durationSeconds: Type.Integer({
              default: 60,
              minimum: 1,
              maximum: 86_400,
              description: 'Window of the auth limit.',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        policies: Type.Record(
          Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
          Type.Object(
            {
              points: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
              durationSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
            },
            { additionalProperties: false },
          ),
          {
            additionalProperties: false,
            default: {},
            maxProperties: 64,
            description:
              'Your own named limits, each with its own counters, for routes that declare `config: { rateLimit: "<name>" }` (on top of the general limit), e.g. {"notes-write": {"points": 10, "durationSeconds": 60}}. "general" and "auth" are taken.',
          },
        ),
        login: Type.Object(
          {
            accountClientFailures: Type.Integer({
              default: 5,
              minimum: 1,
              maximum: 100_000,
              description:
                'Failed logins for one account from one client before that pair gets 429 for the rest of the window.',
            }),
            accountClientWindowSeconds: Type.Integer({
              default: 900,
              minimum: 1,
              maximum: 86_400,
              description: 'Window of the account+client failure count (15 minutes).',
            }),
            clientFailures: Type.Integer({
              default: 50,
              minimum: 1,
              maximum: 1_000_000,
              description:
                'Failed logins from one client across all accounts per window (credential stuffing).',
            }),
            clientWindowSeconds: Type.Integer({
              default: 3_600,
              minimum: 1,
              maximum: 86_400,
              description: 'Window of the per-client failure count (1 hour).',
            }),
            accountFreeFailures: Type.Integer({
              default: 20,
              minimum: 1,
              maximum: 1_000_000,
              description:
                'Failed logins for one account from all clients per window before attempts are spaced by growing delays.',
            }),
            accountWindowSeconds: Type.Integer({
              default: 3_600,
              minimum: 1,
              maximum: 86_400,
              description: 'Window of the per-account failure count (1 hour).',
            }),
            accountMaxDelaySeconds: Type.Integer({
              default: 30,
              minimum: 1,
              maximum: 3_600,
              description:
                'Longest delay between attempts on an account under distributed attack (delays double from 1 s up to this).',
            }),
            mfaFailures: Type.Integer({
              default: 10,
              minimum: 1,
              maximum: 1_000,
              description:
                'Wrong MFA codes for one account (sent with its right password: the password is known) per window, from all clients; then its sign-ins are refused until the window ends.',
            }),
            mfaWindowSeconds: Type.Integer({
              default: 3_600,
              minimum: 60,
              maximum: 86_400,
              description: 'Window of the per-account wrong MFA code count (1 hour).',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    docs: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Serve /openapi.json and the interactive reference at /docs.',
        }),
        publicInProduction: Type.Boolean({
          default: false,
          description:
            'Deliberately publish /docs and /openapi.json in production. Without it, production refuses to start while docs.enabled is true.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        queueSize: Type.Integer({
          default: 10_000,
          minimum: 100,
          maximum: 1_000_000,
          description:
            'Security events waiting to be written to the audit table; when full the oldest is dropped (logged and counted).',
        }),
        retentionDays: Type.Integer({
          default: 365,
          minimum: 0,
          maximum: 36_500,
          description:
            'Age in days after which `bulwark audit-log prune` deletes events (the chain stays verifiable). 0: keep forever.',
        }),
        webhook: Type.Object(
          {
            url: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 2048,
                description:
                  'Endpoint that receives chosen security events as signed JSON POSTs. Unset: no webhook.',
              }),
            ),
            secret: Type.Optional(
              Type.String({
                minLength: 32,
                maxLength: 512,
                description:
                  'HMAC-SHA256 key for the X-Bulwark-Signature header (required with audit.webhook.url).',
              }),
            ),
            events: Type.Array(SecurityEventTypeSchema, {
              default: [
                'refresh.reused',
                'login.throttled',
                'user.role_changed',
                'keys.rotated',
                'config.unsafe_override',
              ],
              maxItems: 64,
              description: 'Event types sent to the webhook.',
            }),
            maxAttempts: Type.Integer({
              default: 5,
              minimum: 1,
              maximum: 20,
              description: 'Delivery attempts per event, the first included.',
            }),
            initialBackoffMs: Type.Integer({
              default: 1_000,
              minimum: 1,
              maximum: 60_000,
              description:
                'Wait before the first retry; doubles on each further retry (capped at 60 s).',
            }),
            timeoutMs: Type.Integer({
              default: 5_000,
              minimum: 100,
              maximum: 60_000,
              description: 'Upper bound of one delivery attempt.',
            }),
            queueSize: Type.Integer({
              default: 1_000,
              minimum: 1,
              maximum: 100_000,
              description:
                'Events waiting for delivery; when full the oldest is dropped (counted).',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        token: Type.Optional(
          Type.String({
            minLength: 32,
            maxLength: 512,
            description:
              'Bearer token that GET /metrics requires on the main port. Unset (and no metrics.port): /metrics is 404.',
          }),
        ),
        port: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 65_535,
            description:
              'Separate port serving /metrics (0: any free port). It also requires metrics.token when that is set.',
          }),
        ),
        host: Type.String({
          default: '127.0.0.1',
          minLength: 1,
          maxLength: 255,
          description:
            'Address of the metrics.port listener; loopback by default. Any other address needs metrics.token.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    oidc: Type.Object(
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
    ),
    email: Type.Object(
      {
        smtpUrl: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description:
              'SMTP server for account e-mails: smtps://user:password@host:465 (TLS) or smtp://user:password@host:587 (STARTTLS, required except on loopback). Never logged. Set this (or outboxDir) with passwordResetUrl, verifyEmailUrl and/or changeEmailUrl. Unset: no account e-mails.',
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
    ),
    log: Type.Object(
      {
        level: Type.Union(
          [
            Type.Literal('fatal'),
            Type.Literal('error'),
            Type.Literal('warn'),
            Type.Literal('info'),
            Type.Literal('debug'),
            Type.Literal('trace'),
            Type.Literal('silent'),
          ],
          { default: 'info', description: 'Log level.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

/** The validated, frozen configuration every part of Bulwark reads. */
export type Config = Static<typeof ConfigSchema>;

/** Any subset of the configuration, as given by a file or a caller. */
export type ConfigInput = DeepPartial<Config>;

export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;
