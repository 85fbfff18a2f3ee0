import type { Dialect } from 'kysely';
import { Kysely, sql } from './kysely.js';
import { registerDirectReads } from './direct-reads.js';
import { sqliteDialect } from './sqlite-dialect.js';
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
  registerDirectReads(db.kysely, direct);
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
