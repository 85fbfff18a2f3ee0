import { Type } from 'typebox';

// The HTTP sections of the config schema (./schema.ts): listening, TLS, HSTS, parsing, CORS, API
// versions.

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

/** Where and how the server listens: address, proxies, timeouts, public origin, redirects. */
export const ServerSettings = Type.Object(
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
);

/** TLS served by the process itself: certificate and key files, minimum version. */
export const TlsSettings = Type.Object(
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
);

/** Strict-Transport-Security (RFC 6797). */
export const HstsSettings = Type.Object(
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
);

/** Bounds on request bodies: size and JSON nesting depth. */
export const HttpSettings = Type.Object(
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
);

/** Cross-origin requests: the allow-list of origins, credentials, preflight caching. */
export const CorsSettings = Type.Object(
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
);

/** API versions: deprecation and sunset. */
export const ApiSettings = Type.Object(
  {
    deprecations: Type.Record(Type.String({ pattern: '^[1-9][0-9]*$' }), VersionDeprecation, {
      additionalProperties: false,
      default: {},
      description:
        'Deprecated API versions by number, e.g. {"1": {"deprecatedAt": "...", "sunsetAt": "..."}}.',
    }),
  },
  { additionalProperties: false, default: {} },
);
