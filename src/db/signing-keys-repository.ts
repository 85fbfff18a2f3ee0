import type { Insertable, Kysely } from 'kysely';
import type { Database, SigningKeyRow, SigningKeysTable } from './types.js';

/** Reads and writes the `signing_keys` table (private keys stored encrypted). */
export class SigningKeysRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<SigningKeysTable>): Promise<SigningKeyRow> {
    return this.db.insertInto('signing_keys').values(row).returningAll().executeTakeFirstOrThrow();
  }

  /** The key that signs new tokens: the newest one not retired. */
  async current(): Promise<SigningKeyRow | undefined> {
    return this.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('retired_at', 'is', null)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** Keys that still verify at `now` (the JWKS), newest first. */
  async listVerifiable(now: number): Promise<SigningKeyRow[]> {
    return this.db
      .selectFrom('signing_keys')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }

  /**
   * Stops a key signing at `now`; it keeps verifying until `expiresAt`, so tokens it already
   * signed stay valid for their lifetime. False if the key is unknown or already retired (its
   * first retirement, and expiry, stand).
   */
  async retire(id: string, now: number, expiresAt: number): Promise<boolean> {
    const result = await this.db
      .updateTable('signing_keys')
      .set({ retired_at: now, expires_at: expiresAt })
      .where('id', '=', id)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Every key, newest first (key management and audits). */
  async all(): Promise<SigningKeyRow[]> {
    return this.db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }
}
