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
