import type { Insertable, Kysely } from 'kysely';
import type { Database, SessionRow, SessionsTable } from './types.js';

/**
 * Reads and writes the `sessions` table. A session is ended, never deleted here; Housekeeping
 * deletes it once it is past the retention period.
 */
export class SessionsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(row: Insertable<SessionsTable>): Promise<SessionRow> {
    return this.db.insertInto('sessions').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async findById(id: string): Promise<SessionRow | undefined> {
    return this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The user's sessions that are neither ended nor past their absolute expiry, newest first. */
  async listActive(userId: string, now: number): Promise<SessionRow[]> {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('ended_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }

  /** Where the user's latest `limit` sessions (open or ended, still kept) signed in from. */
  async recentOrigins(
    userId: string,
    limit: number,
  ): Promise<Pick<SessionRow, 'id' | 'ip' | 'created_at'>[]> {
    return this.db
      .selectFrom('sessions')
      .select(['id', 'ip', 'created_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
  }

  /** Records activity on a live session. False if it does not exist or has ended. */
  async touch(id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ last_used_at: now })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Ends one session. True only for the call that ended it: the first end reason and time stay,
   * so a later logout cannot overwrite, say, `refresh_reuse` in the record.
   */
  async end(id: string, reason: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ ended_at: now, end_reason: reason })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Ends every session of a user that is still open, except `exceptSessionId` (the caller's own,
   * on password change). Returns the ids it ended, so their access tokens can be revoked too.
   */
  endAllForUser(
    userId: string,
    reason: string,
    now: number,
    exceptSessionId?: string,
  ): Promise<string[]> {
    return this.endOpen(userId, reason, now, exceptSessionId);
  }

  /**
   * Moves the user's session generation on (users.session_generation): a sign-in issued under an
   * earlier one (a provider sign-in's hand-off code) starts no session. Its own statement, made
   * before the sessions are ended: once it is committed, a sign-in that reads the generation
   * after starting its session sees it, and one that read it before started its session before
   * the end, which then finds that session too.
   */
  async advanceGeneration(userId: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set((eb) => ({ session_generation: eb('session_generation', '+', 1) }))
      .where('id', '=', userId)
      .execute();
  }

  /**
   * Ends the user's open sessions that identity `identityId` signed in, except
   * `exceptSessionId`. Returns the ids it ended.
   */
  endSignedInWith(
    userId: string,
    identityId: string,
    reason: string,
    now: number,
    exceptSessionId?: string,
  ): Promise<string[]> {
    return this.endOpen(userId, reason, now, exceptSessionId, identityId);
  }

  private async endOpen(
    userId: string,
    reason: string,
    now: number,
    exceptSessionId: string | undefined,
    identityId?: string,
  ): Promise<string[]> {
    let query = this.db
      .updateTable('sessions')
      .set({ ended_at: now, end_reason: reason })
      .where('user_id', '=', userId)
      .where('ended_at', 'is', null);
    if (exceptSessionId !== undefined) query = query.where('id', '!=', exceptSessionId);
    if (identityId !== undefined) query = query.where('identity_id', '=', identityId);
    const rows = await query.returning('id').execute();
    return rows.map((row) => row.id);
  }
}
