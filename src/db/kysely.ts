import { createRequire } from 'node:module';
import type * as KyselyModule from 'kysely';

/*
 * Kysely, from its CommonJS build. Its ES-module build is ~265 files, which Node 20 loads about
 * 40% slower than the same files as CommonJS (~170 against ~100 ms at every start, measured
 * alternately on this project's machine); the two builds are the same code. Every runtime import
 * of Kysely in src/ comes from here, so one copy is loaded; types come from 'kysely' itself.
 */
const kysely = createRequire(import.meta.url)('kysely') as typeof KyselyModule;

export const { Migrator, PostgresDialect, SelectQueryNode, SqliteDialect, sql } = kysely;
export const Kysely = kysely.Kysely;
export type Kysely<DB> = KyselyModule.Kysely<DB>;
