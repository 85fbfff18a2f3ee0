import { createHash } from 'node:crypto';
import { setOwn } from '../config/json.js';
import type { AuditEventRow } from '../db/index.js';

/** The `prev_hash` of the first link: 64 zeros, the hex width of SHA-256. */
export { GENESIS_HASH } from '../db/migrations/0002-audit-events.js';

/** The fields of a row that its hash covers, i.e. everything but the hash itself. */
export type AuditLinkFields = Omit<AuditEventRow, 'hash'>;

/**
 * The canonical serialisation of a row: a JSON array of its fields in a fixed order. A JSON
 * array of strings, numbers and nulls has exactly one serialisation, so the same row always
 * hashes the same on any instance and dialect; the details are already canonical JSON text.
 * `prev_hash` is inside the hashed text, which is what chains each row to its predecessor.
 */
export function canonicalLink(row: AuditLinkFields): string {
  return JSON.stringify([
    'bulwark-audit-v1',
    row.seq,
    row.id,
    row.time,
    row.type,
    row.outcome,
    row.actor_id,
    row.target_type,
    row.target_id,
    row.ip,
    row.user_agent,
    row.request_id,
    row.details,
    row.prev_hash,
  ]);
}

/** SHA-256 (hex) of the canonical row, chained through its `prev_hash`. */
export function linkHash(row: AuditLinkFields): string {
  return createHash('sha256').update(canonicalLink(row), 'utf8').digest('hex');
}

/**
 * JSON with object keys sorted at every depth, so equal details always give equal text (and
 * equal hashes) whatever order the emitter built them in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      // setOwn: an own `__proto__` key stays in the hashed text.
      setOwn(sorted, key, sortKeys((value as Record<string, unknown>)[key]));
    }
    return sorted;
  }
  return value;
}
