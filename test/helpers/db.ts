import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
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
}

/** A fresh database with every migration applied. */
export async function createMigratedTestDb(): Promise<TestDb> {
  const t = await createTestDb();
  try {
    await migrateToLatest(t.db);
  } catch (error) {
    await t.cleanup();
    throw error;
  }
  return t;
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
    async cleanup() {
      await db.close();
      await adminQuery(baseUrl, `drop schema if exists ${pg.escapeIdentifier(schema)} cascade`);
      await removeDir();
    },
  };
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
