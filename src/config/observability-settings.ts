import { Type } from 'typebox';
import { SECURITY_EVENT_TYPES, type SecurityEventType } from '../security-events.js';

// The observability sections of the config schema (./schema.ts): API docs, audit log, metrics,
// logs.

// Built from the catalog; Unsafe gives it the catalog's union type, which TypeBox cannot infer
// from a mapped (non-tuple) array of literals.
const SecurityEventTypeSchema = Type.Unsafe<SecurityEventType>(
  Type.Union(SECURITY_EVENT_TYPES.map((type) => Type.Literal(type))),
);

/** The OpenAPI document and the API reference page. */
export const DocsSettings = Type.Object(
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
);

/** The audit log: its write queue, retention and webhook. */
export const AuditSettings = Type.Object(
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
          description: 'Events waiting for delivery; when full the oldest is dropped (counted).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

/** Prometheus metrics: the scrape token, or a port of their own. */
export const MetricsSettings = Type.Object(
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
);

/** The log level. */
export const LogSettings = Type.Object(
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
);
