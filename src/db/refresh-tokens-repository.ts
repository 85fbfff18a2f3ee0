import type { Insertable, Kysely } from 'kysely';
import type { Database, RefreshTokenRow, RefreshTokensTable } from './types.js';

/** Reads and writes the `refresh_tokens` table, which holds token hashes, never tokens. */
export class RefreshTokensRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<RefreshTokensTable>): Promise<RefreshTokenRow> {
    return this.db
      .insertInto('refresh_tokens')
      .values(row)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Looks a presented token up by its SHA-256 hash (hex). */
  async findByHash(hash: string): Promise<RefreshTokenRow | undefined> {
    return this.db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', hash)
      .executeTakeFirst();
  }

  /**
   * Exchanges token `oldId` for `next` in one transaction: marks the old one used, pointing at
   * its successor, and inserts the successor. Returns false, inserting nothing, when the old one
   * was already used: of two concurrent exchanges of one token exactly one wins, and the loser
   * is a reuse (the guarded UPDATE is the arbiter: on PostgreSQL the second waits for the row
   * lock, then re-reads `used_at`; SQLite runs one write transaction at a time).
   * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14
   */
  async rotate(oldId: string, next: Insertable<RefreshTokensTable>, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const marked = await trx
        .updateTable('refresh_tokens')
        .set({ used_at: now, replaced_by: next.id })
        .where('id', '=', oldId)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (marked.numUpdatedRows === 0n) return false;
      await trx.insertInto('refresh_tokens').values(next).execute();
      return true;
    });
  }

  /** Deletes every refresh token of a session; returns how many. */
  async deleteForSession(sessionId: string): Promise<number> {
    const result = await this.db
      .deleteFrom('refresh_tokens')
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
