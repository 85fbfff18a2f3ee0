import { sql, type Kysely, type Migration } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest, migrationsFor, type Db } from '../../src/db/index.js';
import { identityMigration } from '../../src/db/migrations/0001-identity.js';
import { identitiesMigration } from '../../src/db/migrations/0003-identities.js';
import { mfaMigration } from '../../src/db/migrations/0004-mfa.js';
import { emailTokensMigration } from '../../src/db/migrations/0005-email-tokens.js';
import { emailChangeMigration } from '../../src/db/migrations/0006-email-change.js';
import { createTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { userRow } from './rows.js';

const TABLES = ['refresh_tokens', 'sessions', 'signing_keys', 'users'];
// Every migration Bulwark ships, in the order they apply.
const ALL_MIGRATIONS = Object.keys(migrationsFor('sqlite')).sort();

const opened: TestDb[] = [];
const extra: Db[] = [];
async function fresh(): Promise<TestDb> {
  const t = await createTestDb();
  opened.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(extra.splice(0).map((db) => db.close()));
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

async function tableNames(db: Db): Promise<string[]> {
  const tables = await db.kysely.introspection.getTables();
  const schema = await currentSchema(db);
  return tables
    .filter((t) => schema === undefined || t.schema === schema)
    .map((t) => t.name)
    .sort();
}

async function currentSchema(db: Db): Promise<string | undefined> {
  if (db.dialect !== 'postgres') return undefined;
  const { rows } = await sql<{ s: string }>`select current_schema() as s`.execute(db.kysely);
  return rows[0]?.s;
}

/** Index name -> its definition, from the dialect's catalog. */
async function indexes(db: Db): Promise<Map<string, string>> {
  const { rows } =
    db.dialect === 'postgres'
      ? await sql<{ name: string; def: string }>`
          select indexname as name, indexdef as def from pg_indexes
          where schemaname = current_schema()`.execute(db.kysely)
      : await sql<{ name: string; def: string | null }>`
          select name, sql as def from sqlite_master where type = 'index'`.execute(db.kysely);
  return new Map(rows.map((r) => [r.name, (r.def ?? '').toLowerCase()]));
}

describe('migrateToLatest', () => {
  it('creates the identity tables and is idempotent', async () => {
    const { db } = await fresh();
    await expect(migrateToLatest(db)).resolves.toEqual({ applied: ALL_MIGRATIONS });
    expect(await tableNames(db)).toEqual(expect.arrayContaining(TABLES));
    await expect(migrateToLatest(db)).resolves.toEqual({ applied: [] });
    await expect(migrateToLatest(db)).resolves.toEqual({ applied: [] });
  });

  it('creates the unique and lookup indexes', async () => {
    const { db } = await fresh();
    await migrateToLatest(db);
    const defs = await indexes(db);
    const expectIndex = (name: string, unique: boolean, columns: string) => {
      const def = defs.get(name);
      expect(def, name).toBeDefined();
      expect(def?.includes('unique'), `${name} unique`).toBe(unique);
      expect(def?.replace(/["\s]/g, ''), name).toContain(columns);
    };
    expectIndex('users_email_key', true, '(email)');
    expectIndex('users_role_idx', false, '(role)');
    expectIndex('users_created_at_id_idx', false, '(created_at,id)');
    expectIndex('sessions_user_id_idx', false, '(user_id)');
    expectIndex('refresh_tokens_token_hash_key', true, '(token_hash)');
    expectIndex('refresh_tokens_session_id_idx', false, '(session_id)');
  });

  it('stores epoch ms in 64-bit columns', async () => {
    const { db } = await fresh();
    await migrateToLatest(db);
    const far = Date.UTC(9999, 11, 31);
    await db.kysely
      .insertInto('users')
      .values(userRow({ id: 'far', email: 'far@example.test', created_at: far, updated_at: far }))
      .execute();
    const row = await db.kysely
      .selectFrom('users')
      .select(['created_at', 'updated_at'])
      .where('id', '=', 'far')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ created_at: far, updated_at: far });
  });

  it('rejects a flag other than 0 or 1', async () => {
    const { db } = await fresh();
    await migrateToLatest(db);
    // Cast past the Flag type, as a bug or a hostile mapping would.
    const bad = userRow({ disabled: 2 as 0 });
    await expect(db.kysely.insertInto('users').values(bad).execute()).rejects.toThrow();
  });

  it.runIf(dialectUnderTest === 'sqlite')('uses STRICT tables on SQLite', async () => {
    const { db } = await fresh();
    await migrateToLatest(db);
    const bad = userRow({ created_at: 'yesterday' as unknown as number });
    await expect(db.kysely.insertInto('users').values(bad).execute()).rejects.toThrow(
      /cannot store TEXT value in INTEGER column/,
    );
  });

  it('runs down() cleanly', async () => {
    const { db } = await fresh();
    await migrateToLatest(db);
    // Dependants first: e-mail tokens, second factors and identities reference users.
    await emailChangeMigration(db.dialect).down?.(db.kysely);
    expect(await tableNames(db)).toContain('email_tokens');
    await emailTokensMigration(db.dialect).down?.(db.kysely);
    expect(await tableNames(db)).not.toContain('email_tokens');
    await mfaMigration(db.dialect).down?.(db.kysely);
    expect(
      (await tableNames(db)).filter((n) => ['totp_factors', 'recovery_codes'].includes(n)),
    ).toEqual([]);
    await identitiesMigration(db.dialect).down?.(db.kysely);
    expect(await tableNames(db)).not.toContain('identities');
    await identityMigration(db.dialect).down?.(db.kysely);
    expect(await tableNames(db)).not.toEqual(expect.arrayContaining(['users']));
    expect((await tableNames(db)).filter((n) => TABLES.includes(n))).toEqual([]);
  });

  it('throws naming the failed migration, and leaves nothing half-applied', async () => {
    const { db } = await fresh();
    const broken: Migration = {
      async up(k: Kysely<unknown>) {
        await k.schema.createTable('half_done').addColumn('id', 'text').execute();
        throw new Error('boom');
      },
    };
    const migrations = { ...migrationsFor(db.dialect), '0002-broken': broken };
    await expect(migrateToLatest(db, { migrations })).rejects.toThrow(
      'Database migration "0002-broken" failed: boom',
    );
    // The whole run is one transaction on both dialects: neither the broken migration's table
    // nor the earlier migration of the same run survives, and a fixed run starts over cleanly.
    const names = await tableNames(db);
    expect(names).not.toContain('half_done');
    expect(names).not.toContain('users');
    await expect(migrateToLatest(db)).resolves.toEqual({ applied: ALL_MIGRATIONS });
  });

  it('keeps the error as cause', async () => {
    const { db } = await fresh();
    const cause = new Error('root cause');
    const migrations = {
      '0001-fails': {
        up: () => Promise.reject(cause),
      },
    };
    const error: unknown = await migrateToLatest(db, { migrations }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).cause).toBe(cause);
  });

  it('is safe to run concurrently', async () => {
    const t = await fresh();
    // On PostgreSQL a second pool stands in for a second instance; on SQLite one process has
    // one connection, so concurrent calls share the Db.
    const second =
      t.db.dialect === 'postgres'
        ? await createDatabase({ url: t.url, sqlitePath: t.sqlitePath })
        : t.db;
    if (second !== t.db) extra.push(second);
    const results = await Promise.all([
      migrateToLatest(t.db),
      migrateToLatest(second),
      migrateToLatest(t.db),
      migrateToLatest(second),
    ]);
    expect(results.flatMap((r) => r.applied)).toEqual(ALL_MIGRATIONS);
    expect(await tableNames(t.db)).toEqual(expect.arrayContaining(TABLES));
  });

  it.runIf(dialectUnderTest === 'postgres')(
    "is not fooled by another schema's migration table",
    async () => {
      const a = await fresh();
      const b = await fresh();
      await expect(migrateToLatest(a.db)).resolves.toEqual({ applied: ALL_MIGRATIONS });
      await expect(migrateToLatest(b.db)).resolves.toEqual({ applied: ALL_MIGRATIONS });
      expect(await tableNames(b.db)).toEqual(expect.arrayContaining(TABLES));
    },
  );
});
