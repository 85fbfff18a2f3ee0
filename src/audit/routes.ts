import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AuditEventRow } from '../db/index.js';
import { AppError } from '../errors.js';
import type { AuditLog } from './audit-log.js';
import { AuditEventList, ListAuditEventsQuery, type AuditEventView } from './schema.js';

const security = [{ bearer: [] }];

type Details = AuditEventView['details'];

/** Longest excerpt of unreadable details served, so one altered row cannot bloat a page. */
const MAX_RAW_DETAILS = 1_024;

function isDetailValue(value: unknown): boolean {
  return (
    value === null ||
    ['string', 'number', 'boolean'].includes(typeof value) ||
    (Array.isArray(value) && value.every((item) => typeof item === 'string'))
  );
}

/**
 * A row's details as its event wrote them: a flat JSON object of strings, numbers, booleans,
 * nulls and string lists. Anything else means the row was altered in the database; it is served
 * as `{ unreadable: true, raw }` (an excerpt of the stored text) instead of failing the whole
 * page with a 500, so the log stays readable exactly when someone is investigating tampering
 * (`bulwark audit-log verify` names the row).
 */
function readDetails(text: string): Details {
  try {
    const value: unknown = JSON.parse(text);
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.values(value).every(isDetailValue)
    ) {
      return value as Details;
    }
  } catch {
    // Not JSON: served as unreadable below.
  }
  return { unreadable: true, raw: String(text).slice(0, MAX_RAW_DETAILS) };
}

/**
 * A row's time as RFC 3339, or null when the stored value is no instant at all (altered in the
 * database: a number beyond the Date range, text on SQLite). Like unreadable details, it is
 * served rather than failing the page; `bulwark audit-log verify` names the row.
 */
function readTime(value: unknown): string | null {
  if (typeof value !== 'number') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The public shape of a stored event. */
export function auditEventView(row: AuditEventRow): AuditEventView {
  return {
    id: row.id,
    seq: row.seq,
    time: readTime(row.time),
    type: row.type,
    outcome: row.outcome,
    actorId: row.actor_id,
    target:
      row.target_type !== null && row.target_id !== null
        ? { type: row.target_type, id: row.target_id }
        : null,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    details: readDetails(row.details),
    hash: row.hash,
  };
}

function invalidQuery(path: string, message: string): AppError {
  return new AppError('validation_failed', 'The request does not match the expected schema.', {
    errors: [{ path: `/querystring/${path}`, message }],
  });
}

/** RFC 3339 date-time, as the `date-time` format of the query schema accepts it. */
const DATE_TIME =
  /^(\d{4}-\d\d-\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?(?:[Zz]|([+-])(\d\d)(?::?(\d\d))?)$/;

/**
 * Epoch ms of a date-time the schema accepted. Date.parse is not enough: it returns NaN for two
 * forms RFC 3339 allows and the schema passes, a leap second (`23:59:60Z`) and an hour-only
 * offset (`+01`); a NaN bound made SQLite match nothing and PostgreSQL fail with a 500. A leap
 * second counts as the first instant of the next second, as POSIX time has no 60th second.
 * @see https://www.rfc-editor.org/rfc/rfc3339#section-5.6
 */
function parseDateTime(path: string, text: string): number {
  const match = DATE_TIME.exec(text);
  if (match) {
    const [, date, hour, minute, second, fraction = '', sign, offsetHours, offsetMinutes] = match;
    const leap = second === '60';
    const millis = `${fraction.slice(1)}000`.slice(0, 3);
    const utc = Date.parse(`${date}T${hour}:${minute}:${leap ? '59' : second}.${millis}Z`);
    const offset =
      sign === undefined
        ? 0
        : (sign === '-' ? -1 : 1) *
          (Number(offsetHours) * 60 + Number(offsetMinutes ?? 0)) *
          60_000;
    const time = utc + (leap ? 1000 : 0) - offset;
    if (Number.isFinite(time)) return time;
  }
  throw invalidQuery(path, 'must be an RFC 3339 date-time');
}

/** The cursor is the seq of the last item served, opaque to clients. */
function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const seq = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(seq))
    throw invalidQuery('cursor', 'is not a cursor this server issued');
  return seq;
}

function encodeCursor(seq: number): string {
  return Buffer.from(String(seq)).toString('base64url');
}

/** /api/v1/admin/audit-events: the audit log for holders of audit:read, newest first. */
export function auditRoutes(base: FastifyInstance, opts: { log: AuditLog }): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/audit-events',
    {
      preHandler: [app.authenticate, app.authorize('audit:read')],
      schema: {
        tags: ['admin'],
        summary: 'Security events (audit:read), newest first, with cursor pagination.',
        security,
        querystring: ListAuditEventsQuery,
        response: { 200: AuditEventList },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const since = q.since === undefined ? undefined : parseDateTime('since', q.since);
      const until = q.until === undefined ? undefined : parseDateTime('until', q.until);
      if (since !== undefined && until !== undefined && since >= until) {
        throw invalidQuery('until', 'must be after since');
      }
      const limit = q.limit ?? 50;
      const rows = await opts.log.list({
        type: q.type,
        userId: q.userId,
        outcome: q.outcome,
        since,
        until,
        beforeSeq: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
        // One extra row tells whether another page exists without a count query.
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      // Audit data names users, addresses and agents: never cached by a browser or proxy.
      void reply.header('cache-control', 'no-store');
      return {
        items: page.map(auditEventView),
        nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
      };
    },
  );
}
