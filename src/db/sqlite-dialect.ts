import { closeSync, constants, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { Dialect, Driver, SqliteDatabase as KyselySqliteDatabase } from 'kysely';
import { makeDirectorySync } from '../files/make-directory.js';
import { SqliteDialect } from './kysely.js';

/** How long SQLite waits for a lock held by another process before SQLITE_BUSY, in ms. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;

export function sqliteDialect(
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
export interface DirectSqlite {
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
  makeDirectorySync(dirname(path), 0o700);
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
