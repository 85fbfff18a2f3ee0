import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, EmailTokenPurpose, EmailTokenRow } from './types.js';

/**
 * Single-use tokens sent by e-mail, stored as hashes. A user has at most one live token per
 * purpose: issuing a new one deletes the others, so only the latest link works.
 */
export class EmailTokensRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a new token for the user and purpose, replacing every earlier one. */
  async issue(input: {
    userId: string;
    purpose: EmailTokenPurpose;
    tokenHash: string;
    email: string;
    now: number;
    expiresAt: number;
  }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Concurrent requests for one account take turns on its row (PostgreSQL locks it until
      // commit; SQLite runs one write transaction at a time anyway). Without it, under READ
      // COMMITTED each delete sees none of the others' uncommitted inserts, and several links
      // stay live at once. A no-op update rather than FOR UPDATE, which SQLite does not parse.
      await trx
        .updateTable('users')
        .set((eb) => ({ id: eb.ref('id') }))
        .where('id', '=', input.userId)
        .execute();
      await trx
        .deleteFrom('email_tokens')
        .where('user_id', '=', input.userId)
        .where('purpose', '=', input.purpose)
        .execute();
      await trx
        .insertInto('email_tokens')
        .values({
          id: randomUUID(),
          user_id: input.userId,
          purpose: input.purpose,
          token_hash: input.tokenHash,
          email: input.email,
          created_at: input.now,
          expires_at: input.expiresAt,
          used_at: null,
        })
        .execute();
    });
  }

  /** The token with this hash and purpose while it is unused and unexpired. */
  async findLive(
    tokenHash: string,
    purpose: EmailTokenPurpose,
    now: number,
  ): Promise<EmailTokenRow | undefined> {
    return this.db
      .selectFrom('email_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
  }

  /**
   * Marks the token used, in one conditional update: of two concurrent uses exactly one gets
   * true. False when it was already used, has expired or is gone (replaced by a newer one).
   */
  async consume(id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('email_tokens')
      .set({ used_at: now })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** Deletes the user's tokens of this purpose (after a use, the other links stop working). */
  async deleteForUser(userId: string, purpose: EmailTokenPurpose): Promise<void> {
    await this.db
      .deleteFrom('email_tokens')
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .execute();
  }
}
