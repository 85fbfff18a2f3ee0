import { Type } from 'typebox';

// The storage sections of the config schema (./schema.ts): database, Redis, rate limits.

/** SQLite file or PostgreSQL URL, and migrations. */
export const DatabaseSettings = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: 'PostgreSQL connection URL (postgres://...). Unset: the embedded SQLite file.',
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
);

/** Redis, the store that several instances share, and what happens when it is down. */
export const RedisSettings = Type.Object(
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
);

/** Rate limits: general, auth routes, per-route policies and the failed-login throttle. */
export const RateLimitSettings = Type.Object(
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
);
