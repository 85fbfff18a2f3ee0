import type { Kysely } from './kysely.js';
import type { DirectSqlite } from './sqlite-dialect.js';
import type { Database } from './types.js';

/*
 * Kept apart from prepared-read.ts, whose declarations are published (src/db/index.ts): a
 * DirectSqlite in them would make every library user's type check need better-sqlite3's types,
 * a devDependency here (test/docs/published-types.test.ts).
 */

/** The SQLite connections of the Kysely instances createDatabase made (prepared reads use them). */
const directReads = new WeakMap<Kysely<Database>, DirectSqlite>();

/** Lets prepareRead run reads of `kysely` directly on its SQLite connection (createDatabase). */
export function registerDirectReads(kysely: Kysely<Database>, direct: DirectSqlite): void {
  directReads.set(kysely, direct);
}

/** The SQLite connection prepared reads of `kysely` may use directly, if it has one. */
export function directReadsOf(kysely: Kysely<Database>): DirectSqlite | undefined {
  return directReads.get(kysely);
}
