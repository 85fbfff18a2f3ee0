import type { Kysely } from './kysely.js';
import type { Database } from './types.js';

/**
 * A subquery finding session `sessionId` of user `userId` while it is still open, for the WHERE
 * (`eb.exists(…)`) of a write made on that session's say-so: checked in the same statement as the
 * write, so a session ended while the request was served (a logout elsewhere, an administrator
 * disabling the account) makes the write match no row instead of landing after the end.
 */
export function openSession(db: Kysely<Database>, sessionId: string, userId: string) {
  return db
    .selectFrom('sessions')
    .select('sessions.id')
    .where('sessions.id', '=', sessionId)
    .where('sessions.user_id', '=', userId)
    .where('sessions.ended_at', 'is', null);
}
