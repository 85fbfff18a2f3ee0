import { Type, type Static } from 'typebox';
import { SECURITY_EVENT_TYPES, type SecurityEventType } from '../security-events.js';

// Unsafe gives the schema the catalog's union type, which TypeBox cannot infer from a mapped array.
const EventType = Type.Unsafe<SecurityEventType>(
  Type.Union(SECURITY_EVENT_TYPES.map((type) => Type.Literal(type))),
);
const Outcome = Type.Union([
  Type.Literal('success'),
  Type.Literal('failure'),
  Type.Literal('denied'),
]);

export const ListAuditEventsQuery = Type.Object(
  {
    type: Type.Optional(EventType),
    userId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36 })),
    outcome: Type.Optional(Outcome),
    since: Type.Optional(Type.String({ format: 'date-time', maxLength: 40 })),
    until: Type.Optional(Type.String({ format: 'date-time', maxLength: 40 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
);
export type ListAuditEvents = Static<typeof ListAuditEventsQuery>;

const DetailValue = Type.Union([
  Type.String(),
  Type.Number(),
  Type.Boolean(),
  Type.Null(),
  Type.Array(Type.String()),
]);

export const AuditEventSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    /** Position in the hash chain. */
    seq: Type.Integer(),
    // Null only for a row whose stored time was altered into something that is no instant.
    time: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    type: Type.String(),
    outcome: Type.String(),
    actorId: Type.Union([Type.String(), Type.Null()]),
    target: Type.Union([
      Type.Object({ type: Type.String(), id: Type.String() }, { additionalProperties: false }),
      Type.Null(),
    ]),
    ip: Type.Union([Type.String(), Type.Null()]),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
    details: Type.Record(Type.String(), DetailValue),
    /** The row's chain hash; export the newest one elsewhere to anchor the chain. */
    hash: Type.String(),
  },
  { additionalProperties: false, $id: 'AuditEvent' },
);
export type AuditEventView = Static<typeof AuditEventSchema>;

export const AuditEventList = Type.Object(
  {
    items: Type.Array(AuditEventSchema),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
