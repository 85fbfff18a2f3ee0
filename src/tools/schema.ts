import { Type } from 'typebox';

const text = (maxLength: number, minLength = 0): ReturnType<typeof Type.String> =>
  Type.String({ minLength, maxLength });

export const JwtVerifyBody = Type.Object(
  {
    token: text(16_384, 1),
    jwks: Type.Optional(text(262_144)),
    jwksUrl: Type.Optional(text(2048)),
    pem: Type.Optional(text(16_384)),
    secret: Type.Optional(text(1024)),
    issuer: Type.Optional(text(2048)),
    audience: Type.Optional(text(2048)),
    clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  },
  { additionalProperties: false },
);

export const OidcStartBody = Type.Object(
  {
    issuer: text(2048, 1),
    clientId: text(512, 1),
    clientSecret: Type.Optional(text(1024)),
    clientAuth: Type.Optional(
      Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')]),
    ),
    scope: Type.Optional(text(512)),
  },
  { additionalProperties: false },
);

/** What a provider may add to its redirect (code, state, iss, error…, and its own extras). */
export const OidcCallbackQuery = Type.Object(
  {},
  { additionalProperties: Type.String({ maxLength: 4096 }), maxProperties: 20 },
);

export const AssetParams = Type.Object(
  { name: Type.String({ pattern: '^[a-z-]+\\.(js|css)$', maxLength: 40 }) },
  { additionalProperties: false },
);
