import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';

// createMigratedTestDb hands a PostgreSQL test file a schema that an earlier file of the same
// worker may have used (test/helpers/db.ts). Whatever that file did, the next one must find it
// as the migrations leave a new one: no rows of its own, the migrations' rows, the same tables.
describe.runIf(dialectUnderTest === 'postgres')('reused PostgreSQL test schemas', () => {
  async function columns(t: TestDb): Promise<string[]> {
    const { rows } = await sql<{ name: string }>`
      select table_name || '.' || column_name as name from information_schema.columns
        where table_schema = current_schema() order by 1`.execute(t.db.kysely);
    return rows.map((r) => r.name);
  }
  async function count(t: TestDb, table: string): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from ${sql.table(table)}`.execute(t.db.kysely);
    return rows[0]!.n;
  }

  it('come back empty but for the rows the migrations wrote, however full they were left', async () => {
    const first = await createMigratedTestDb();
    const migrated = await columns(first);
    const head = await first.db.kysely.selectFrom('audit_chain_head').selectAll().execute();
    expect(head).toHaveLength(1);
    await first.db.kysely
      .insertInto('users')
      .values({
        id: '00000000-0000-4000-8000-000000000001',
        email: 'left@example.com',
        name: 'Left Behind',
        role: 'user',
        password_hash: 'x',
        mfa_enabled: 0,
        email_verified: 0,
        disabled: 0,
        created_at: 1,
        updated_at: 1,
      } as never)
      .execute();
    await first.db.kysely
      .updateTable('audit_chain_head')
      .set({ seq: 41, hash: 'moved on' })
      .execute();
    await first.cleanup();

    // Several at once, as files of one worker never are, so that the first one's is among them.
    const next = await Promise.all([createMigratedTestDb(), createMigratedTestDb()]);
    try {
      expect(next.some((t) => t.reused)).toBe(true);
      for (const t of next) {
        expect(await columns(t)).toEqual(migrated);
        expect(await count(t, 'users')).toBe(0);
        expect(await t.db.kysely.selectFrom('audit_chain_head').selectAll().execute()).toEqual(
          head,
        );
      }
    } finally {
      for (const t of next) await t.cleanup();
    }
  });

  it('are dropped, not reused, once a test changed their structure', async () => {
    const altered = await createMigratedTestDb();
    const migrated = await columns(altered);
    await sql`alter table users add column left_behind text`.execute(altered.db.kysely);
    await altered.cleanup();

    const next = await Promise.all([createMigratedTestDb(), createMigratedTestDb()]);
    try {
      for (const t of next) expect(await columns(t)).toEqual(migrated);
    } finally {
      for (const t of next) await t.cleanup();
    }
  });
});
