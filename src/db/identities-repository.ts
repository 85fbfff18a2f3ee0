import type { Kysely } from 'kysely';
import type { Database, IdentityRow, NewIdentityRow } from './types.js';

/** Reads and writes the `identities` table (OpenID Connect accounts linked to users). */
export class IdentitiesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts a link; an (issuer, subject) already linked rejects with a unique violation. */
  async insert(row: NewIdentityRow): Promise<IdentityRow> {
    return this.db.insertInto('identities').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async findBySubject(issuer: string, subject: string): Promise<IdentityRow | undefined> {
    return this.db
      .selectFrom('identities')
      .selectAll()
      .where('issuer', '=', issuer)
      .where('subject', '=', subject)
      .executeTakeFirst();
  }

  async findById(id: string): Promise<IdentityRow | undefined> {
    return this.db.selectFrom('identities').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** A user's identities, oldest first. */
  async listByUser(userId: string): Promise<IdentityRow[]> {
    return this.db
      .selectFrom('identities')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  /** Records a sign-in; `email` left out keeps the one stored. */
  async touch(id: string, patch: { email?: string | null; last_login_at: number }): Promise<void> {
    await this.db.updateTable('identities').set(patch).where('id', '=', id).execute();
  }

  /**
   * Deletes identity `id` of `userId` unless it is the account's last way to sign in (no password
   * and no other identity). Checked and done in one transaction that first writes the user's row
   * (a no-op update): PostgreSQL locks that row, SQLite takes its write lock, so two unlinks of
   * one account run one after the other and the second counts what the first left. Checked
   * outside it, both would see another identity left and both would delete.
   */
  async deleteUnlessLast(id: string, userId: string): Promise<'deleted' | 'last' | 'not_found'> {
    return this.db.transaction().execute(async (trx) => {
      const user = await trx
        .updateTable('users')
        .set((eb) => ({ updated_at: eb.ref('updated_at') }))
        .where('id', '=', userId)
        .returning('password_hash')
        .executeTakeFirst();
      if (!user) return 'not_found';
      const owned = await trx
        .selectFrom('identities')
        .select('id')
        .where('user_id', '=', userId)
        .execute();
      if (!owned.some((row) => row.id === id)) return 'not_found';
      if (!user.password_hash && owned.length < 2) return 'last';
      await trx
        .deleteFrom('identities')
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .execute();
      return 'deleted';
    });
  }
}
