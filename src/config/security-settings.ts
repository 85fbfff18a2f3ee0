import { Type } from 'typebox';

// The credential sections of the config schema (./schema.ts): keys, passwords, tokens, roles.

/** The master keyring (key, key file, current version) and the development key file. */
export const KeysSettings = Type.Object(
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
);

/** Password hashing (argon2id) and the password policy. */
export const PasswordsSettings = Type.Object(
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
);

/** Access and refresh tokens: algorithm, lifetimes, issuer, audience. */
export const TokensSettings = Type.Object(
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
);

/** Roles and their permissions. */
export const AccessSettings = Type.Object(
  {
    roles: Type.Record(
      Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }),
      Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$', maxLength: 64 }), {
        maxItems: 64,
      }),
      {
        additionalProperties: false,
        default: {
          admin: ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
          user: [],
        },
        description: 'Roles and the permissions they grant (every user may read and edit itself).',
      },
    ),
    defaultRole: Type.String({
      default: 'user',
      pattern: '^[a-z][a-z0-9_-]{0,31}$',
      description: 'Role given to self-registered users.',
    }),
    recentSignInSeconds: Type.Integer({
      default: 600,
      minimum: 60,
      maximum: 86400,
      description:
        "Deleting an account (your own, or another with users:write) needs a session signed in at most this long ago (10 minutes); refreshing does not renew it. An older one gets 401 insufficient_user_authentication (RFC 9470) and signs in again. An administrator's other changes to accounts use access.privilegedRecentSignInSeconds.",
    }),
    privilegedRecentSignInSeconds: Type.Integer({
      default: 3600,
      minimum: 60,
      maximum: 86400,
      description:
        "An administrator's change to another account (create a user, edit or disable one, change its role, reset its MFA, e-mail it a reset link) needs a session signed in at most this long ago (1 hour); refreshing does not renew it. An older one gets 401 insufficient_user_authentication (RFC 9470) and signs in again. Deleting another account needs access.recentSignInSeconds as well (the shorter of the two applies).",
    }),
  },
  { additionalProperties: false, default: {} },
);
