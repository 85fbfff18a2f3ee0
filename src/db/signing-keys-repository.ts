import type { Insertable, Kysely } from 'kysely';
import type { Database, SigningKeyRow, SigningKeysTable } from './types.js';

/** Reads and writes the `signing_keys` table (private keys stored encrypted). */
export class SigningKeysRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<SigningKeysTable>): Promise<SigningKeyRow> {
    return this.db.insertInto('signing_keys').values(row).returningAll().executeTakeFirstOrThrow();
  }

  /**
   * The newest key not retired: the one that signs new tokens, or will once its `created_at`
   * comes (a rotation publishes the next key ahead of its signing time).
   */
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
   * Stops a key signing at `now` (a time that may lie ahead: the next key's signing time); it
   * keeps verifying until `expiresAt`, so tokens it already signed stay valid for their lifetime.
   * False if the key is unknown or already retired (its first retirement, and expiry, stand).
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

  /**
   * Retires, like {@link retire}, every key not retired yet that comes before `newest` in the
   * order of {@link current} (older, or as old with a smaller id), so that `newest` is the only
   * key left signing. A newer key is never touched: instances doing this at the same moment each
   * for their own newest key end with the newest of all as the one current key. Returns the ids
   * retired.
   */
  async retireOlderThan(
    newest: Pick<SigningKeyRow, 'id' | 'created_at'>,
    now: number,
    expiresAt: number,
  ): Promise<string[]> {
    const rows = await this.db
      .updateTable('signing_keys')
      .set({ retired_at: now, expires_at: expiresAt })
      .where('retired_at', 'is', null)
      .where((eb) =>
        eb.or([
          eb('created_at', '<', newest.created_at),
          eb.and([eb('created_at', '=', newest.created_at), eb('id', '<', newest.id)]),
        ]),
      )
      .returning('id')
      .execute();
    return rows.map((row) => row.id);
  }

  /**
   * Ends every key but `keep` at `now` (a leaked key): none signs or verifies any more, and each
   * leaves the JWKS. Keys retired before keep their retirement time. Returns the ids of the keys
   * that were still verifying.
   */
  async revokeAllExcept(keep: string, now: number): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('signing_keys')
        .set({ retired_at: now })
        .where('id', '!=', keep)
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', now)]))
        .execute();
      const rows = await trx
        .updateTable('signing_keys')
        .set({ expires_at: now })
        .where('id', '!=', keep)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .returning('id')
        .execute();
      return rows.map((row) => row.id).sort();
    });
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
