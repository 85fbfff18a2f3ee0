import { Type } from 'typebox';

const ProviderName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$', maxLength: 32 });

export const ProviderParams = Type.Object(
  { provider: ProviderName },
  { additionalProperties: false },
);

export const StartQuery = Type.Object(
  {
    returnTo: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: "One of the provider's configured appUrls (exact match). Default: the first.",
      }),
    ),
    maxAge: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 86_400,
        description:
          'A step-up sign-in (RFC 9470): sent to the provider as max_age, which must then have authenticated the user within this many seconds and say when (auth_time); 0 asks it to authenticate anew. The answer to a 401 insufficient_user_authentication passes its max_age here.',
      }),
    ),
  },
  { additionalProperties: false },
);

const param = (maxLength: number) => Type.Optional(Type.String({ maxLength }));

/**
 * What providers send to the callback. Listed one by one so the query stays strict; besides the
 * standard response (code, state, iss, error*), the extras Google and Keycloak add are accepted
 * and ignored.
 */
export const CallbackQuery = Type.Object(
  {
    code: param(4096),
    state: param(512),
    iss: param(2048),
    error: param(256),
    error_description: param(1024),
    error_uri: param(2048),
    session_state: param(512),
    scope: param(2048),
    authuser: param(16),
    hd: param(256),
    prompt: param(64),
  },
  { additionalProperties: false },
);

export const ExchangeBody = Type.Object(
  {
    code: Type.String({
      pattern: '^[A-Za-z0-9_-]{43}$',
      maxLength: 43,
      description: 'The one-time code from the #oidc_code fragment of the app URL.',
    }),
    mfaCode: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 32,
        description:
          'Only for accounts with MFA on: a 6-digit code from the authenticator app, or an unused recovery code. Without it such an account answers 401 mfa_required, and the same code can be exchanged again with it for 5 minutes.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const IdentityIdParams = Type.Object(
  { id: Type.String({ format: 'uuid', maxLength: 36 }) },
  { additionalProperties: false },
);

export const IdentityList = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          id: Type.String({ format: 'uuid' }),
          provider: Type.String(),
          issuer: Type.String(),
          email: Type.Union([Type.String(), Type.Null()]),
          createdAt: Type.String({ format: 'date-time' }),
          lastLoginAt: Type.String({ format: 'date-time' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
