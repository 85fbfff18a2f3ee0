import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  sql,
  type Dialect,
  type SqliteDatabase as KyselySqliteDatabase,
} from 'kysely';
import type pg from 'pg';
import type { Database } from './types.js';

/** The SQL dialects Bulwark runs on. */
export type DialectName = 'sqlite' | 'postgres';

/** An open database: the Kysely instance plus what the rest of the app needs to manage it. */
export interface Db {
  readonly kysely: Kysely<Database>;
  readonly dialect: DialectName;
  /** Resolves when the database answers a trivial query; used by the readiness check. */
  ping(): Promise<void>;
  /** Closes the pool or file handle. Safe to call more than once. */
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** `postgres://` or `postgresql://` URL; when absent the embedded SQLite file is used. */
  url?: string | undefined;
  /** SQLite file path (`:memory:` for a throw-away database). Ignored when `url` is set. */
  sqlitePath: string;
  /**
   * Receives errors of idle pooled PostgreSQL connections (server restart, network cut). The pool
   * already discards such a connection; this is for logging.
   */
  onBackgroundError?: (error: Error) => void;
}

/** Upper bound of pooled PostgreSQL connections per instance. */
const PG_POOL_MAX = 10;
/** How long acquiring a new PostgreSQL connection may take before the query fails, in ms. */
const PG_CONNECT_TIMEOUT_MS = 5_000;
/** Server-side cap on one statement, in ms: a runaway query must not hold a connection forever. */
const PG_STATEMENT_TIMEOUT_MS = 15_000;
/** Server-side cap on an idle open transaction, in ms: its row locks would block every writer. */
const PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000;
/** How long SQLite waits for a lock held by another process before SQLITE_BUSY, in ms. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
/** PostgreSQL type OID of int8 (`bigint`). */
const INT8_OID = 20;

/**
 * Opens the database: PostgreSQL when `url` is given, otherwise the embedded SQLite file.
 * (better-sqlite3 loads its native binding on first open, so a PostgreSQL deployment never does.)
 */
export function createDatabase(options: CreateDatabaseOptions): Promise<Db> {
  // pg connects lazily; the promise lets the driver be loaded on demand (a SQLite deployment
  // never loads pg), and turns a synchronous throw into a rejection.
  return Promise.resolve(options).then(open);
}

async function open(options: CreateDatabaseOptions): Promise<Db> {
  const url = options.url?.trim();
  if (url) {
    const scheme = schemeOf(url);
    if (scheme !== 'postgres:' && scheme !== 'postgresql:') {
      // Never echo the URL itself: it usually carries a password.
      throw new Error(
        `Unsupported database URL scheme "${scheme}": use postgres:// or postgresql://, or leave the URL unset for SQLite`,
      );
    }
    const { default: driver } = await import('pg');
    return wrap('postgres', postgresDialect(driver, url, options.onBackgroundError));
  }
  return wrap('sqlite', sqliteDialect(options.sqlitePath));
}

function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:)/i.exec(url);
  return match?.[1]?.toLowerCase() ?? '(none)';
}

function wrap(dialectName: DialectName, dialect: Dialect): Db {
  const kysely = new Kysely<Database>({ dialect });
  let closing: Promise<void> | undefined;
  return Object.freeze({
    kysely,
    dialect: dialectName,
    async ping(): Promise<void> {
      await sql`select 1`.execute(kysely);
    },
    close(): Promise<void> {
      // pg's Pool.end() rejects when called twice; shutdown paths and tests may both close.
      closing ??= kysely.destroy();
      return closing;
    },
  });
}

function postgresDialect(
  driver: typeof pg,
  url: string,
  onBackgroundError: ((error: Error) => void) | undefined,
): Dialect {
  // Times are bigint epoch ms; pg returns int8 as a string by default because it can exceed
  // 2^53. Epoch ms stay below 2^53 until the year 287396, so Number is exact here. Set per pool,
  // never on pg's global parsers, so other pg users in the same process are unaffected.
  const types = new driver.TypeOverrides();
  types.setTypeParser(INT8_OID, 'text', Number);
  const pool = new driver.Pool({
    connectionString: url,
    max: PG_POOL_MAX,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    statement_timeout: PG_STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    application_name: 'bulwark',
    types,
  });
  // Without a listener an idle connection's error is an unhandled 'error' event and kills the
  // process; the pool drops that connection by itself and the next query gets a fresh one.
  pool.on('error', (error) => onBackgroundError?.(error));
  return new PostgresDialect({ pool });
}

function sqliteDialect(path: string): Dialect {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) prepareSqliteFile(path);
  // `timeout` is SQLite's busy_timeout: wait for another process's lock instead of failing.
  const database = new SqliteDatabase(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    // WAL lets readers proceed during a write; NORMAL sync is durable in WAL mode except for the
    // last transactions on power loss, the usual trade-off for a server.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    // SQLite leaves foreign keys off by default; the schema relies on ON DELETE CASCADE.
    database.pragma('foreign_keys = ON');
  } catch (error) {
    database.close();
    throw error;
  }
  return new SqliteDialect({ database: withStatementCache(database) });
}

/** Prepared statements kept per SQLite connection (distinct SQL texts; parameters are bound). */
const SQLITE_STATEMENT_CACHE = 256;

/**
 * Kysely prepares every query anew; preparing costs more than running a primary-key read. The
 * SQL text is fixed per query shape (values are always bound parameters, raw SQL is forbidden),
 * so statements are reused from a bounded map keyed by that text. Kysely serialises use of the
 * single SQLite connection (a stream holds it to the end), so a statement is never run twice at
 * once, and SQLite re-prepares a statement by itself after a schema change (migrations).
 */
function withStatementCache(database: SqliteDatabase.Database): KyselySqliteDatabase {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => {
      statements.clear();
      database.close();
    },
    prepare(sqlText: string) {
      let statement = statements.get(sqlText);
      if (statement === undefined) {
        statement = database.prepare(sqlText);
        // Full: forget the oldest (insertion order); the hot queries are prepared again at once.
        if (statements.size >= SQLITE_STATEMENT_CACHE) {
          statements.delete(statements.keys().next().value!);
        }
        statements.set(sqlText, statement);
      }
      return statement;
    },
  };
}

/**
 * The file holds password hashes and wrapped keys: its directory is created owner-only and the
 * file itself owner-read/write. SQLite gives its -wal and -shm files the mode of the main file.
 */
function prepareSqliteFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
