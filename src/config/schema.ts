import { Type, type Static } from 'typebox';

/*
 * The one configuration schema. Every setting has a default (secure unless its name says
 * otherwise) and, where it has one, its unit in its name (`...Ms`, `...Seconds`, `...Bytes`).
 * Each leaf is settable from the environment as BULWARK_<PATH> (see ./env.ts), from a JSON file
 * given with --config, or programmatically through createConfig(). docs/config.md lists them all.
 */

const Origin = Type.String({ minLength: 1, maxLength: 2048 });

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
          description: 'Upper bound for receiving a whole request (slowloris protection).',
        }),
        keepAliveTimeoutMs: Type.Integer({
          default: 5_000,
          minimum: 0,
          maximum: 600_000,
          description: 'Idle keep-alive timeout of client connections.',
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
          default: {},
          description:
            'Deprecated API versions by number, e.g. {"1": {"deprecatedAt": "...", "sunsetAt": "..."}}.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    docs: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Serve /openapi.json and the interactive reference at /docs.',
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
