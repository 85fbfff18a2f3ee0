import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { Compilable, Dialect, Driver, SqliteDatabase as KyselySqliteDatabase } from 'kysely';
import { Kysely, SelectQueryNode, SqliteDialect, sql } from './kysely.js';
import { CurrentSchemaPostgresDialect } from './postgres-introspector.js';
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
   * Receives errors of pooled PostgreSQL connections, idle or in use (server restart, failover,
   * network cut). The pool already discards such a connection and the query in flight fails on
   * its own; this is for logging.
   */
  onBackgroundError?: (error: Error) => void;
  /**
   * SQLite only: open the file only if it exists (reject otherwise) instead of creating
   * it, for tools that read an existing database and must not leave an empty one behind.
   */
  mustExist?: boolean;
  /**
   * PostgreSQL only: how long to wait for the answer to one statement before the query fails and
   * its connection is dropped, in ms (default 20 000: the server's own 15 s statement timeout
   * plus 5 s, so it fires only when the server or the network stopped answering).
   */
  queryReadTimeoutMs?: number;
}

/** Upper bound of pooled PostgreSQL connections per instance. */
const PG_POOL_MAX = 10;
/** How long acquiring a new PostgreSQL connection may take before the query fails, in ms. */
const PG_CONNECT_TIMEOUT_MS = 5_000;
/** Server-side cap on one statement, in ms: a runaway query must not hold a connection forever. */
const PG_STATEMENT_TIMEOUT_MS = 15_000;
/**
 * Client-side cap on waiting for the answer to one statement, in ms: longer than the server's own
 * statement timeout, so it only fires when the server (or the network to it) stopped answering
 * while the connection stays open — a hung server, a partition, a frozen proxy. Without it the
 * request waits for TCP to give up (many minutes); with it, it fails as "database unavailable"
 * (503) and the connection is dropped.
 */
const PG_QUERY_TIMEOUT_MS = PG_STATEMENT_TIMEOUT_MS + 5_000;
/** The error pg's client gives when PG_QUERY_TIMEOUT_MS fires. */
export const PG_QUERY_TIMEOUT_MESSAGE = 'Query read timeout';
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
    return wrap(
      'postgres',
      postgresDialect(
        driver,
        url,
        options.onBackgroundError,
        options.queryReadTimeoutMs ?? PG_QUERY_TIMEOUT_MS,
      ),
    );
  }
  const { dialect, direct } = sqliteDialect(options.sqlitePath, options.mustExist === true);
  const db = wrap('sqlite', dialect);
  directReads.set(db.kysely, direct);
  return db;
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

/**
 * When a statement's answer does not come within PG_QUERY_TIMEOUT_MS, pg fails the query but keeps
 * the connection, with the unanswered statement still in flight: every later query on it would
 * queue behind that statement and time out in turn, and the pool would keep handing it out.
 * Destroying its socket makes the pool discard it when it is released, so that requests after
 * the server comes back (or fails over) get a fresh connection.
 */
function dropConnectionOnReadTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]): unknown => {
    const pending = query(...args);
    if (pending instanceof Promise) {
      // Attached before the caller's own await, so it runs first: end() marks the client as
      // ending at once (the pool then discards it on release instead of lending it again) and
      // destroys the socket, the statement in flight never having been answered.
      pending.catch((error: unknown) => {
        if ((error as Error | undefined)?.message === PG_QUERY_TIMEOUT_MESSAGE) {
          client.end().catch(() => undefined);
        }
      });
    }
    return pending;
  };
}

function postgresDialect(
  driver: typeof pg,
  url: string,
  onBackgroundError: ((error: Error) => void) | undefined,
  queryReadTimeoutMs: number,
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
    query_timeout: queryReadTimeoutMs,
    idle_in_transaction_session_timeout: PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    application_name: 'bulwark',
    types,
  });
  // A connection that drops (server restart, failover, network cut) makes its client emit
  // 'error'. The pool listens only while the client is idle, and Kysely never does: a client
  // checked out for a query or between the statements of a transaction would raise an unhandled
  // 'error' event, an uncaught exception that stops the process. Every client gets a listener of
  // its own for its whole life; the query in flight fails by itself (its request gets 503), and
  // the pool discards the broken client when it comes back, or at once when it was idle.
  pool.on('connect', (client) => {
    client.on('error', (error) => onBackgroundError?.(error));
    dropConnectionOnReadTimeout(client);
  });
  // The pool re-emits an idle client's error, already reported by the listener above.
  pool.on('error', () => undefined);
  return new CurrentSchemaPostgresDialect({ pool });
}

function sqliteDialect(
  path: string,
  mustExist: boolean,
): { dialect: Dialect; direct: DirectSqlite } {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory && !mustExist) prepareSqliteFile(path);
  // `timeout` is SQLite's busy_timeout: wait for another process's lock instead of failing.
  const database = new SqliteDatabase(path, {
    timeout: SQLITE_BUSY_TIMEOUT_MS,
    fileMustExist: mustExist && !inMemory,
  });
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
  const direct: DirectSqlite = { database, holders: 0 };
  return { dialect: new TrackedSqliteDialect(withStatementCache(database), direct), direct };
}

/** The one SQLite connection, and how many Kysely operations hold or wait for it. */
interface DirectSqlite {
  readonly database: SqliteDatabase.Database;
  holders: number;
}

/**
 * Kysely's SQLite driver serialises use of the single connection with a mutex: a transaction
 * holds it from BEGIN to COMMIT, across awaits. This driver counts who holds or waits for that
 * connection (counted from the call to acquire until the release has completed), so a prepared
 * read (prepareRead) may run directly only when nobody does: exactly when Kysely would itself
 * have run it at once, never inside another caller's open transaction.
 */
class TrackedSqliteDialect extends SqliteDialect {
  constructor(
    database: KyselySqliteDatabase,
    private readonly direct: DirectSqlite,
  ) {
    super({ database });
  }

  override createDriver(): Driver {
    const driver = super.createDriver();
    const direct = this.direct;
    const tracked: Driver = {
      init: () => driver.init(),
      async acquireConnection() {
        direct.holders += 1;
        try {
          return await driver.acquireConnection();
        } catch (error) {
          direct.holders -= 1;
          throw error;
        }
      },
      async releaseConnection(connection) {
        try {
          await driver.releaseConnection(connection);
        } finally {
          direct.holders -= 1;
        }
      },
      beginTransaction: (connection, settings) => driver.beginTransaction(connection, settings),
      commitTransaction: (connection) => driver.commitTransaction(connection),
      rollbackTransaction: (connection) => driver.rollbackTransaction(connection),
      destroy: () => driver.destroy(),
    };
    // Savepoints exist on this driver; passed through only if present, like the driver's own.
    if (driver.savepoint) {
      tracked.savepoint = (connection, name, compile) =>
        driver.savepoint!(connection, name, compile);
    }
    if (driver.rollbackToSavepoint) {
      tracked.rollbackToSavepoint = (connection, name, compile) =>
        driver.rollbackToSavepoint!(connection, name, compile);
    }
    if (driver.releaseSavepoint) {
      tracked.releaseSavepoint = (connection, name, compile) =>
        driver.releaseSavepoint!(connection, name, compile);
    }
    return tracked;
  }
}

/** The SQLite connections of the Kysely instances createDatabase made (prepared reads use them). */
const directReads = new WeakMap<Kysely<Database>, DirectSqlite>();

/** A value bound when a prepared read runs: the `index`-th argument of the run. */
class QueryParameter {
  constructor(readonly index: number) {}
}

/**
 * A placeholder for the `index`-th argument of a prepared read, typed as the column's value so it
 * fits where the query builder expects one. It is always sent as a bound parameter.
 */
export function parameter<T>(index: number): T {
  return new QueryParameter(index) as unknown as T;
}

/** A SELECT compiled once; each run binds its arguments and executes it. */
export interface PreparedRead<Args extends readonly unknown[], Row> {
  /** Every row. */
  all(...args: Args): Promise<Row[]>;
  /** The first row, or undefined. */
  first(...args: Args): Promise<Row | undefined>;
}

/**
 * Compiles `query` (built with {@link parameter} placeholders) once, instead of building and
 * compiling it again on every call: the SQL text is fixed, and only the bound values change. The
 * query is still sent with bound parameters, on both dialects.
 *
 * On the SQLite connection of createDatabase, a run whose connection is free executes the
 * statement directly (better-sqlite3 is synchronous, so nothing can interleave); when a Kysely
 * operation holds or waits for the connection (an open transaction) it queues through Kysely
 * like any query. Everywhere else (PostgreSQL, a transaction's Kysely) it runs through
 * `executeQuery`. Kysely plugins do not apply to the direct path; createDatabase installs none.
 */
export function prepareRead<Args extends readonly unknown[], Row>(
  kysely: Kysely<Database>,
  query: Compilable<Row>,
): PreparedRead<Args, Row> {
  const compiled = query.compile();
  if (!SelectQueryNode.is(compiled.query)) throw new TypeError('prepareRead takes a SELECT');
  const template = compiled.parameters;
  const slots = template.map((value) => (value instanceof QueryParameter ? value.index : -1));
  const bind = (args: readonly unknown[]): unknown[] => {
    const values = new Array<unknown>(template.length);
    for (let i = 0; i < template.length; i++) {
      const slot = slots[i]!;
      if (slot >= 0 && slot >= args.length) throw new RangeError(`missing argument ${slot}`);
      values[i] = slot >= 0 ? args[slot] : template[i];
    }
    return values;
  };
  const viaKysely = async (args: readonly unknown[]): Promise<Row[]> =>
    (await kysely.executeQuery<Row>({ ...compiled, parameters: bind(args) })).rows;

  const direct = directReads.get(kysely);
  if (direct === undefined) {
    return {
      all: (...args) => viaKysely(args),
      first: (...args) => viaKysely(args).then((rows) => rows[0]),
    };
  }
  // Prepared on first use (the table may not exist before migrations), in raw mode: arrays are
  // cheaper to build than objects, and the columns are named once here. Its own statement, never
  // one of the cache Kysely uses (raw mode would change what Kysely reads).
  let statement: SqliteDatabase.Statement<unknown[], unknown[]> | undefined;
  let columns: string[] = [];
  const toRow = (values: unknown[]): Row => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = values[i];
    return row as Row;
  };
  const prepared = (): SqliteDatabase.Statement<unknown[], unknown[]> => {
    if (statement === undefined) {
      const created = direct.database.prepare<unknown[], unknown[]>(compiled.sql).raw(true);
      columns = created.columns().map((column) => column.name);
      statement = created;
    }
    return statement;
  };
  // async: a throw (closed database, missing argument) becomes a rejection like Kysely's.
  return {
    async all(...args) {
      if (direct.holders > 0) return viaKysely(args);
      return prepared()
        .all(...bind(args))
        .map(toRow);
    },
    async first(...args) {
      if (direct.holders > 0) return (await viaKysely(args))[0];
      const values = prepared().get(...bind(args));
      return values === undefined ? undefined : toRow(values);
    },
  };
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
