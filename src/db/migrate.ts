import type { Kysely, Migration, MigrationProvider, MigrationResultSet } from 'kysely';
import { Migrator, sql } from './kysely.js';
import type { Db } from './database.js';
import { migrationsFor } from './migrations/index.js';
import type { Database } from './types.js';

export interface MigrateOptions {
  /** Replaces Bulwark's own migrations; for tests of the runner itself. */
  migrations?: Record<string, Migration>;
}

/**
 * Applies every pending migration and returns the names it applied (none when up to date).
 * Safe to run from several instances at once; throws naming the failed migration.
 */
export async function migrateToLatest(
  db: Db,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const migrations = options.migrations ?? migrationsFor(db.dialect);
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
  const { error, results = [] } =
    db.dialect === 'postgres'
      ? await onPostgres(db.kysely, provider)
      : await onSqlite(db.kysely, provider);
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : 'unknown error';
    throw new Error(
      failed === undefined
        ? `Database migration failed: ${reason}`
        : `Database migration "${failed}" failed: ${reason}`,
      { cause: error },
    );
  }
  return {
    applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName),
  };
}

/*
 * PostgreSQL: Kysely's Migrator holds a pg_advisory_lock for the whole run and reads the applied
 * migrations only once it has the lock, so a second instance waits and then finds nothing to do;
 * each run is one transaction (transactional DDL), so a failure leaves no half-applied schema.
 */
async function onPostgres(
  kysely: Kysely<Database>,
  provider: MigrationProvider,
): Promise<MigrationResultSet> {
  return kysely.connection().execute(async (conn) => {
    // Without an explicit schema the Migrator looks for its bookkeeping tables in *every* schema,
    // and would take another schema's kysely_migration (another app or test run) for ours.
    const { rows } = await sql<{
      schema: string | null;
    }>`select current_schema() as schema`.execute(conn);
    const schema = rows[0]?.schema;
    if (!schema) {
      throw new Error(
        'Database migration failed: no schema of the search_path exists; create it or fix the search_path in DATABASE_URL',
      );
    }
    // The pool's statement_timeout would cut a waiting instance's lock wait and a long index build.
    await sql`set statement_timeout = 0`.execute(conn);
    try {
      return await new Migrator({
        db: conn,
        provider,
        migrationTableSchema: schema,
      }).migrateToLatest();
    } finally {
      await sql`reset statement_timeout`.execute(conn);
    }
  });
}

/*
 * SQLite: Kysely runs SQLite migrations outside any transaction and without a lock, so a failure
 * half-way would leave half a schema and two processes could apply the same migration twice.
 * SQLite does support DDL in transactions: one BEGIN IMMEDIATE around the whole run makes it
 * all-or-nothing and takes the write lock at once, so another process's run waits (busy_timeout),
 * then finds nothing pending. (A future migration needing PRAGMA foreign_keys = OFF cannot run
 * inside it and will need its own path.)
 */
async function onSqlite(
  kysely: Kysely<Database>,
  provider: MigrationProvider,
): Promise<MigrationResultSet> {
  return kysely.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    let result: MigrationResultSet;
    try {
      result = await new Migrator({ db: conn, provider }).migrateToLatest();
    } catch (error) {
      await sql`rollback`.execute(conn);
      throw error;
    }
    if (result.error === undefined) await sql`commit`.execute(conn);
    else await sql`rollback`.execute(conn);
    return result;
  });
}
