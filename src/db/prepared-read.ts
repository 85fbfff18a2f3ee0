import type SqliteDatabase from 'better-sqlite3';
import type { Compilable } from 'kysely';
import { directReadsOf } from './direct-reads.js';
import { SelectQueryNode, type Kysely } from './kysely.js';
import type { Database } from './types.js';

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

  const direct = directReadsOf(kysely);
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
