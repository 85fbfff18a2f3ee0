import { PostgresIntrospector, sql, type Kysely, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurrentSchemaIntrospector } from '../../src/db/postgres-introspector.js';
import {
  createMigratedTestDb,
  createTestDb,
  dialectUnderTest,
  type TestDb,
} from '../helpers/db.js';

// Kysely's Migrator asks the introspector whether its tables exist, at every migration (every
// start of the service and of most CLI commands).
describe.runIf(dialectUnderTest === 'postgres')('introspection on PostgreSQL', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createMigratedTestDb();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  /**
   * Runs `introspect` in a repeatable-read transaction whose snapshot still holds a schema that
   * another session has dropped since: the moment another schema disappears mid-query.
   */
  async function afterAnotherSchemaIsDropped<T>(
    introspect: (trx: Transaction<unknown>) => Promise<T>,
  ): Promise<T> {
    const other = await createTestDb();
    await sql`create table gone (id serial primary key, name text)`.execute(other.db.kysely);
    const kysely = t.db.kysely as unknown as Kysely<unknown>;
    return kysely
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        await sql`select 1`.execute(trx); // takes the snapshot
        await other.cleanup(); // drop schema ... cascade, committed by another connection
        return introspect(trx);
      });
  }

  /**
   * Kysely's introspector, for comparison. It reads every schema of the shared test database, so
   * another test file dropping its schema meanwhile fails it (the problem the test above shows):
   * such a read is tried again, up to 10 times; any other error fails at once.
   */
  async function kyselysOwnTables(kysely: Kysely<unknown>, withInternalKyselyTables: boolean) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await new PostgresIntrospector(kysely).getTables({ withInternalKyselyTables });
      } catch (error) {
        const vanished = /schema "bw_[0-9a-f]+" does not exist/.test(String(error));
        if (!vanished || attempt === 10) throw error;
      }
    }
  }

  it('Kysely’s own introspector fails when another schema is dropped meanwhile (the problem)', async () => {
    await expect(
      afterAnotherSchemaIsDropped((trx) =>
        new PostgresIntrospector(trx).getTables({ withInternalKyselyTables: true }),
      ),
    ).rejects.toThrow(/schema "bw_[0-9a-f]+" does not exist/);
  });

  it('the current-schema introspector answers with this schema’s tables', async () => {
    const tables = await afterAnotherSchemaIsDropped((trx) =>
      new CurrentSchemaIntrospector(trx).getTables({ withInternalKyselyTables: true }),
    );
    const names = tables.map((table) => table.name);
    expect(names).toContain('users');
    expect(names).toContain('kysely_migration');
    expect(names).not.toContain('gone');
  });

  it('describes the tables as Kysely’s introspector does, limited to this schema', async () => {
    const kysely = t.db.kysely as unknown as Kysely<unknown>;
    const schema = (await new CurrentSchemaIntrospector(kysely).getSchemas())[0]?.name;
    expect(schema).toMatch(/^bw_[0-9a-f]+$/);
    for (const withInternalKyselyTables of [false, true]) {
      const ours = await new CurrentSchemaIntrospector(kysely).getTables({
        withInternalKyselyTables,
      });
      const theirs = (await kyselysOwnTables(kysely, withInternalKyselyTables)).filter(
        (table) => table.schema === schema,
      );
      expect(ours.length).toBeGreaterThan(withInternalKyselyTables ? 2 : 0);
      expect(ours).toEqual(theirs);
    }
  });
});
