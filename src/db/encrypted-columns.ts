import type { Kysely } from 'kysely';
import type { FieldContext } from '../crypto/index.js';
import type { Database } from './types.js';

/**
 * A database column that holds FieldCipher envelopes. The one list of them is
 * ENCRYPTED_COLUMNS: the services take their AAD from it, and `bulwark keys reencrypt` walks it,
 * so a new secret column (a provider's refresh tokens …) is one entry here.
 */
export interface EncryptedColumn {
  /** Stable name for reports and logs: `<table>.<field>`. */
  readonly name: string;
  /** Physical table and columns. The id column must be the text primary key. */
  readonly table: keyof Database;
  readonly idColumn: string;
  readonly column: string;
  /** FieldCipher purpose: which HKDF-derived key encrypts this column. */
  readonly purpose: string;
  /**
   * Table and column names bound into every envelope (AAD) with the row id. Frozen forever once
   * data exists: changing them makes every stored value undecryptable. They are the logical
   * names, which is why they may differ from the physical ones (`phone` vs `phone_enc`).
   */
  readonly aad: { readonly table: string; readonly column: string };
}

/** Every encrypted column, in the order `keys reencrypt` processes them. */
export const ENCRYPTED_COLUMNS = Object.freeze({
  usersPhone: {
    name: 'users.phone',
    table: 'users',
    idColumn: 'id',
    column: 'phone_enc',
    purpose: 'field-encryption',
    aad: { table: 'users', column: 'phone' },
  },
  signingKeysPrivateKey: {
    name: 'signing_keys.private_key',
    table: 'signing_keys',
    idColumn: 'id',
    column: 'private_key_enc',
    purpose: 'signing-key-wrap',
    aad: { table: 'signing_keys', column: 'private_key' },
  },
  totpSecret: {
    name: 'totp_factors.secret',
    table: 'totp_factors',
    idColumn: 'user_id',
    column: 'secret_enc',
    purpose: 'field-encryption',
    aad: { table: 'totp_factors', column: 'secret' },
  },
} as const satisfies Record<string, EncryptedColumn>);

/** ENCRYPTED_COLUMNS as a list. */
export function encryptedColumns(): EncryptedColumn[] {
  return Object.values(ENCRYPTED_COLUMNS);
}

/** Where the value of `column` in row `rowId` lives: the AAD of its envelope. */
export function fieldContext(column: EncryptedColumn, rowId: string): FieldContext {
  return { table: column.aad.table, column: column.aad.column, rowId };
}

/** One stored envelope and the row it belongs to. */
export interface StoredEnvelope {
  id: string;
  value: string;
}

/** A compare-and-set: write `value` only if the column still holds `expected`. */
export interface EnvelopeReplacement {
  id: string;
  expected: string;
  value: string;
}

/*
 * Table and column names come from the registry above (constants, never input), so a loosely
 * typed view of the schema is enough; every value still goes through a bound parameter.
 */
type LooseSchema = Record<string, Record<string, string | null>>;

/** Reads and rewrites the envelopes of any registered column, by primary key order. */
export class EncryptedColumnsRepository {
  readonly #db: Kysely<LooseSchema>;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Kysely<LooseSchema>;
  }

  /** How many rows hold a value (null means "no value", nothing to encrypt). */
  async count(column: EncryptedColumn): Promise<number> {
    const row = await this.#db
      .selectFrom(column.table)
      .select((eb) => eb.fn.countAll().as('count'))
      .where(column.column, 'is not', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /**
   * Up to `limit` non-null values with an id after `afterId` (from the start when null), in id
   * order: keyset pagination, so rows added or changed meanwhile never shift a page.
   */
  async batchAfter(
    column: EncryptedColumn,
    afterId: string | null,
    limit: number,
  ): Promise<StoredEnvelope[]> {
    let query = this.#db
      .selectFrom(column.table)
      .select([`${column.idColumn} as id`, `${column.column} as value`])
      .where(column.column, 'is not', null);
    if (afterId !== null) query = query.where(column.idColumn, '>', afterId);
    const rows = await query.orderBy(column.idColumn, 'asc').limit(limit).execute();
    return rows.map((row) => ({ id: row.id as string, value: row.value as string }));
  }

  /**
   * Applies the replacements in one transaction, each only where the stored value is still the
   * expected one, so a value written meanwhile (a user changing their phone) is never
   * overwritten. Returns the ids actually updated.
   */
  async compareAndSet(
    column: EncryptedColumn,
    replacements: readonly EnvelopeReplacement[],
  ): Promise<Set<string>> {
    if (replacements.length === 0) return new Set();
    return this.#db.transaction().execute(async (trx) => {
      const updated = new Set<string>();
      for (const { id, expected, value } of replacements) {
        const result = await trx
          .updateTable(column.table)
          .set({ [column.column]: value })
          .where(column.idColumn, '=', id)
          .where(column.column, '=', expected)
          .executeTakeFirst();
        if (result.numUpdatedRows > 0n) updated.add(id);
      }
      return updated;
    });
  }
}
