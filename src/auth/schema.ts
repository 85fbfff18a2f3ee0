import { Type } from 'typebox';
import { Email, Name, Password, UserSchema } from '../users/schema.js';

export const RegisterBody = Type.Object(
  { email: Email, password: Password, name: Name },
  { additionalProperties: false },
);

/** A 6-digit code from the authenticator app, or a recovery code (`xxxx-xxxx-xxxx`). */
const MfaCode = Type.String({
  minLength: 1,
  maxLength: 32,
  description: 'A 6-digit code from the authenticator app, or an unused recovery code.',
});

export const LoginBody = Type.Object(
  {
    email: Email,
    password: Password,
    mfaCode: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 32,
        description:
          'Only for accounts with MFA on: a 6-digit code from the authenticator app, or an unused recovery code. Without it such an account answers 401 mfa_required.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);

export const ChangePasswordBody = Type.Object(
  { currentPassword: Password, newPassword: Password },
  { additionalProperties: false },
);

export const SessionIdParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

const pairProperties = {
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires.' }),
  refreshToken: Type.String(),
};

export const TokenPairSchema = Type.Object(pairProperties, { additionalProperties: false });

export const LoginResponse = Type.Object(
  { ...pairProperties, user: UserSchema },
  { additionalProperties: false },
);

export const RegisterResponse = Type.Object({ user: UserSchema }, { additionalProperties: false });

export const SessionList = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          createdAt: Type.String({ format: 'date-time' }),
          lastUsedAt: Type.String({ format: 'date-time' }),
          ip: Type.Union([Type.String(), Type.Null()]),
          userAgent: Type.Union([Type.String(), Type.Null()]),
          current: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const MfaStatus = Type.Object(
  { enabled: Type.Boolean(), recoveryCodesRemaining: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);

export const MfaSetupBody = Type.Object({ password: Password }, { additionalProperties: false });

export const MfaSetupResponse = Type.Object(
  {
    secret: Type.String({ description: 'Base32 secret, for apps that take it typed in.' }),
    otpauthUri: Type.String({ description: 'The otpauth:// URI, to show as a QR code.' }),
    algorithm: Type.Literal('SHA1'),
    digits: Type.Integer(),
    period: Type.Integer({ description: 'Seconds per code.' }),
  },
  { additionalProperties: false },
);

export const MfaConfirmBody = Type.Object(
  { mfaCode: Type.String({ pattern: '^[0-9]{6}$', maxLength: 6 }) },
  { additionalProperties: false },
);

export const MfaCodeAndPasswordBody = Type.Object(
  { password: Password, mfaCode: MfaCode },
  { additionalProperties: false },
);

export const RecoveryCodesResponse = Type.Object(
  {
    recoveryCodes: Type.Array(Type.String(), {
      description: 'Single-use codes, shown this once: each signs in once in place of a code.',
    }),
  },
  { additionalProperties: false },
);

const Jwk = Type.Object(
  {
    kty: Type.String(),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.Literal('sig'),
  },
  // Public members only: the schema drops anything else (a private `d` can never be served).
  { additionalProperties: false },
);

/** GET /.well-known/jwks.json */
export const JwksBody = Type.Object({ keys: Type.Array(Jwk) }, { additionalProperties: false });

/** A token from an e-mailed link: 32 random bytes, base64url. */
const EmailLinkToken = Type.String({
  minLength: 43,
  maxLength: 43,
  pattern: '^[A-Za-z0-9_-]{43}$',
  description: 'The token of the e-mailed link (after #token=).',
});

export const ForgotPasswordBody = Type.Object({ email: Email }, { additionalProperties: false });

export const ResetPasswordBody = Type.Object(
  { token: EmailLinkToken, newPassword: Password },
  { additionalProperties: false },
);

export const VerifyEmailBody = Type.Object(
  { token: EmailLinkToken },
  { additionalProperties: false },
);

export const ChangeEmailBody = Type.Object(
  { newEmail: Email, password: Password },
  { additionalProperties: false },
);

export const ConfirmEmailChangeBody = Type.Object(
  { token: EmailLinkToken },
  { additionalProperties: false },
);
