import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, migrateToLatest, type Db } from '../../src/db/index.js';

/*
 * Every test file gets a database of its own. On PostgreSQL (DATABASE_URL set) that is a fresh
 * schema on the shared server, selected through the connection string's search_path, so suites
 * run in parallel without seeing each other. On SQLite it is a temporary file.
 * An unreachable DATABASE_URL makes createTestDb reject: the suite fails rather than skips, so a
 * broken PostgreSQL run cannot pass as a green one.
 */

/** The dialect this test run exercises, chosen by DATABASE_URL. */
export const dialectUnderTest: 'sqlite' | 'postgres' = process.env.DATABASE_URL
  ? 'postgres'
  : 'sqlite';

export interface TestDb {
  db: Db;
  /** The PostgreSQL URL scoped to this test's schema; undefined on SQLite. */
  url: string | undefined;
  /** The SQLite file (unused on PostgreSQL, but a valid path for config objects). */
  sqlitePath: string;
  /** Closes `db` and drops the schema or deletes the file. */
  cleanup(): Promise<void>;
  /** The PostgreSQL schema; undefined on SQLite. */
  schema?: string;
  /** Whether it is a schema an earlier test file used, emptied (createMigratedTestDb). */
  reused?: boolean;
}

/**
 * A fresh database with every migration applied. On PostgreSQL it may be a schema another test
 * file of this worker used before: checked to be as the migrations left it, its rows deleted and
 * the migrations' own rows put back. That costs a fraction of creating, migrating and dropping
 * one (0.1-0.3 s a schema, depending on the load: a good part of the PostgreSQL run).
 */
export async function createMigratedTestDb(): Promise<TestDb> {
  const reused = await takeMigratedSchema();
  if (reused) return reused;
  const t = await createTestDb();
  try {
    await migrateToLatest(t.db);
  } catch (error) {
    await t.cleanup();
    throw error;
  }
  if (t.schema === undefined) return t;
  return recycledOnCleanup(t, t.schema);
}

/** A fresh, empty database for one test file. Migrations are not run: callers do. */
export async function createTestDb(): Promise<TestDb> {
  const baseUrl = process.env.DATABASE_URL;
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-db-'));
  const sqlitePath = join(dir, 'test.sqlite');
  const removeDir = (): Promise<void> => rm(dir, { recursive: true, force: true });

  if (!baseUrl) {
    const db = await createDatabase({ sqlitePath });
    return {
      db,
      url: undefined,
      sqlitePath,
      async cleanup() {
        await db.close();
        await removeDir(); // the file with its -wal and -shm
      },
    };
  }

  const schema = `bw_${randomBytes(8).toString('hex')}`;
  try {
    await adminQuery(baseUrl, `create schema ${pg.escapeIdentifier(schema)}`);
  } catch (error) {
    await removeDir();
    throw error;
  }
  const url = withSearchPath(baseUrl, schema);
  const db = await createDatabase({ url, sqlitePath });
  return {
    db,
    url,
    sqlitePath,
    schema,
    async cleanup() {
      await db.close();
      await adminQuery(baseUrl, `drop schema if exists ${pg.escapeIdentifier(schema)} cascade`);
      await removeDir();
    },
  };
}

/*
 * Migrated PostgreSQL schemas kept for reuse by later test files of this worker (module state
 * outlives a file: the projects run with isolate: false). A schema goes back to the pool only
 * when nothing but rows changed: same tables, columns, indexes, constraints, triggers, functions
 * and grants as a freshly migrated one, and the migrations table as they wrote it. A test that
 * altered its schema (a dropped column, a trigger that fails writes) gets it dropped as before.
 * The pool holds them renamed after a prefix of the run's (test/helpers/global-setup.ts), whose
 * teardown drops what it still holds when the run ends. Without that prefix (a run without
 * the global setup) nothing is pooled.
 */
const pooled: string[] = [];

/**
 * A freshly migrated schema: its structure, its tables in an order that deletes every row
 * without breaking a foreign key (referencing tables first), and the rows the migrations wrote.
 */
interface Pristine {
  fingerprint: string;
  tables: string[];
  rows: Map<string, string>;
}
let pristine: Promise<Pristine | undefined> | undefined;

/** PostgreSQL's catalog rows of the current schema. */
const IN_SCHEMA = 'relnamespace = to_regnamespace(current_schema())';

async function readPristine(client: pg.Client): Promise<Pristine | undefined> {
  const { rows: found } = await client.query<{ name: string; kind: string }>(
    `select quote_ident(relname) as name, relkind::text as kind from pg_class
      where ${IN_SCHEMA} and relkind in ('r', 'S', 'p')
        and relname not in ('kysely_migration', 'kysely_migration_lock')`,
  );
  // A sequence would have to be restarted too, and a partitioned table emptied by partitions.
  if (found.some((t) => t.kind !== 'r')) return undefined;
  const { rows: references } = await client.query<{ child: string; parent: string }>(
    `select quote_ident(child.relname) as child, quote_ident(parent.relname) as parent
      from pg_constraint k
      join pg_class child on child.oid = k.conrelid
      join pg_class parent on parent.oid = k.confrelid
      where k.contype = 'f' and k.connamespace = to_regnamespace(current_schema())
        and child.oid <> parent.oid`,
  );
  const left = new Set(found.map((t) => t.name));
  const tables: string[] = [];
  while (left.size > 0) {
    const free = [...left].filter(
      (t) => !references.some((r) => r.parent === t && left.has(r.child)),
    );
    if (free.length === 0) return undefined; // a cycle: not worth handling here
    for (const t of free.sort()) {
      tables.push(t);
      left.delete(t);
    }
  }
  const rows = new Map<string, string>();
  for (const table of tables) {
    const { rows: result } = await client.query<{ json: string | null }>(
      `select json_agg(t)::text as json from ${table} t`,
    );
    if (result[0]?.json) rows.set(table, result[0].json);
  }
  return { fingerprint: await fingerprint(client), tables, rows };
}

/** The schema's structure (its own name left out), to compare with a freshly migrated one. */
async function fingerprint(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ fingerprint: string }>(`
    select coalesce(string_agg(item, E'\\n' order by item), '') as fingerprint from (
      select 'relation ' || relname || ' ' || relkind::text || ' ' || coalesce(relacl::text, '')
        as item from pg_class where ${IN_SCHEMA}
      union all
      select 'column ' || c.relname || '.' || a.attname || ' '
        || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
        || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        from pg_attribute a join pg_class c on c.oid = a.attrelid
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where c.${IN_SCHEMA} and a.attnum > 0 and not a.attisdropped
      union all
      select 'index ' || pg_get_indexdef(i.indexrelid)
        from pg_index i join pg_class c on c.oid = i.indexrelid where c.${IN_SCHEMA}
      union all
      select 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
        from pg_constraint where connamespace = to_regnamespace(current_schema())
      union all
      select 'trigger ' || t.tgname || ' ' || c.relname
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where c.${IN_SCHEMA} and not t.tgisinternal
      union all
      select 'function ' || proname from pg_proc
        where pronamespace = to_regnamespace(current_schema())
      union all
      select 'migration ' || name from kysely_migration
    ) items`);
  return rows[0]!.fingerprint.replaceAll(`${await currentSchema(client)}.`, '');
}

async function currentSchema(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
  return rows[0]!.schema;
}

/** `t` whose cleanup empties its schema into the pool when it is still as migrated. */
async function recycledOnCleanup(t: TestDb, schema: string): Promise<TestDb> {
  const prefix = schemaPoolPrefix();
  if (t.url === undefined || prefix === undefined) return t;
  // The first migrated schema of this worker, before any test used it, is the reference.
  pristine ??= withClient(t.url, readPristine);
  const reference = await pristine;
  if (reference === undefined) return t;
  const url = t.url;
  return {
    ...t,
    async cleanup() {
      await t.db.close();
      // Held by the pool under the run's prefix, which the global teardown drops.
      const poolName = `${prefix}${randomBytes(8).toString('hex')}`;
      let kept: boolean;
      try {
        kept = await withClient(url, async (client) => {
          // A connection left open in a transaction would hold the truncate forever.
          await client.query("set lock_timeout = '5s'");
          if ((await fingerprint(client)) !== reference.fingerprint) return false;
          // Emptied, then given back the rows the migrations wrote (the audit chain's genesis).
          // DELETE, not TRUNCATE: on a few small tables it is many times faster (no new files).
          await client.query('begin');
          for (const table of reference.tables) await client.query(`delete from ${table}`);
          for (const [table, json] of reference.rows) {
            await client.query(
              `insert into ${table} select * from json_populate_recordset(null::${table}, $1)`,
              [json],
            );
          }
          await client.query('commit');
          await client.query(
            `alter schema ${pg.escapeIdentifier(schema)} rename to ${pg.escapeIdentifier(poolName)}`,
          );
          return true;
        });
      } catch {
        kept = false;
      }
      if (kept) pooled.push(poolName);
      else await dropSchema(schema);
      await rm(dirname(t.sqlitePath), { recursive: true, force: true });
    },
  };
}

/** A pooled, emptied schema of this worker, or undefined. */
async function takeMigratedSchema(): Promise<TestDb | undefined> {
  const baseUrl = process.env.DATABASE_URL;
  const poolName = pooled.pop();
  if (!baseUrl || poolName === undefined) return undefined;
  // In use, it is named like any test schema.
  const schema = `bw_${randomBytes(8).toString('hex')}`;
  await adminQuery(
    baseUrl,
    `alter schema ${pg.escapeIdentifier(poolName)} rename to ${pg.escapeIdentifier(schema)}`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-db-'));
  const sqlitePath = join(dir, 'test.sqlite');
  const url = withSearchPath(baseUrl, schema);
  const db = await createDatabase({ url, sqlitePath });
  const t: TestDb = {
    db,
    url,
    sqlitePath,
    schema,
    reused: true,
    async cleanup() {
      await db.close();
      await dropSchema(schema);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return recycledOnCleanup(t, schema);
}

async function dropSchema(schema: string): Promise<void> {
  await adminQuery(
    process.env.DATABASE_URL!,
    `drop schema if exists ${pg.escapeIdentifier(schema)} cascade`,
  );
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** The run's prefix for pooled schema names (from the global setup), if there is one. */
function schemaPoolPrefix(): string | undefined {
  if (!process.env.DATABASE_URL) return undefined;
  try {
    return inject('schemaPoolPrefix') || undefined;
  } catch {
    return undefined;
  }
}

/** `url` with `-c search_path=<schema>` added to its libpq `options` parameter. */
export function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options');
  const option = `-c search_path=${schema}`;
  parsed.searchParams.set('options', existing ? `${existing} ${option}` : option);
  return parsed.toString();
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    const { hostname, port } = new URL(url);
    throw new Error(
      `DATABASE_URL is set but PostgreSQL at ${hostname}:${port || 5432} is unreachable; unset it to test on SQLite`,
      { cause: error },
    );
  }
  try {
    // Suites dropping their schemas at the same moment can deadlock on PostgreSQL's shared
    // catalog (40P01, more likely since tables reference each other across migrations); the
    // server aborts one of them, which simply tries again.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(text);
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== '40P01' || attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  } finally {
    await client.end();
  }
}
