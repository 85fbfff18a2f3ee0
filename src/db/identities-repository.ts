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

  async countByUser(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('identities')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** Records a sign-in; `email` left out keeps the one stored. */
  async touch(id: string, patch: { email?: string | null; last_login_at: number }): Promise<void> {
    await this.db.updateTable('identities').set(patch).where('id', '=', id).execute();
  }

  /** Deletes the identity only if it belongs to `userId`; true when a row went. */
  async deleteForUser(id: string, userId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('identities')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
