import type { Kysely } from './kysely.js';
import type { Database } from './types.js';

/** The session a write is made on the say-so of: its id and its user's. */
export interface ActingSession {
  id: string;
  userId: string;
  /**
   * The role its tokens carry, for a write that the role allows (an administrator's): a change of
   * the user's role, which ends the sessions only once it is committed, refuses it too.
   */
  role?: string;
}

/**
 * Thrown inside a transaction by {@link holdOpenSession} when the session has ended (or its
 * account was disabled or deleted): the transaction rolls back, and the service answers 401.
 */
export class SessionEndedError extends Error {
  constructor(readonly sessionId: string) {
    super('the session a write was made on has ended');
    this.name = 'SessionEndedError';
  }
}

/**
 * For a write of several statements made on a session's say-so: run as the last statement of its
 * transaction, it holds the session open until commit, or throws {@link SessionEndedError} (which
 * rolls the writes back) when the session has ended, its account is gone, or its account is
 * disabled or (with `session.role`) holds another role (unless `whileEnabled` is false: for a
 * transaction that may disable that account itself, and checked it before).
 * A no-op update rather than a read: PostgreSQL locks the session row and re-reads its condition
 * on the row as committed, so an end committed first is seen here and one that comes later waits
 * for the commit (a plain read would let an end commit between the check and the commit of the
 * writes; SQLite does not parse FOR UPDATE). SQLite runs one write transaction at a time anyway.
 * Last, not first: a transaction that writes the users row and then the session row takes its
 * locks in the order a deletion's cascade does.
 */
export async function holdOpenSession(
  db: Kysely<Database>,
  session: ActingSession,
  { whileEnabled = true }: { whileEnabled?: boolean } = {},
): Promise<void> {
  let hold = db
    .updateTable('sessions')
    .set((eb) => ({ id: eb.ref('id') }))
    .where('id', '=', session.id)
    .where('user_id', '=', session.userId)
    .where('ended_at', 'is', null);
  if (whileEnabled) {
    let account = db
      .selectFrom('users')
      .select('users.id')
      .where('users.id', '=', session.userId)
      .where('users.disabled', '=', 0);
    if (session.role !== undefined) account = account.where('users.role', '=', session.role);
    hold = hold.where((eb) => eb.exists(account));
  }
  const held = await hold.executeTakeFirst();
  if (held.numUpdatedRows !== 1n) throw new SessionEndedError(session.id);
}
