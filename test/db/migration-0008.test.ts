/*
 * Migration 0008 on a database migrated by the previous release (0001-0007), with users in it:
 * up gives every account session generation 0 (a column with a default, no rewrite of the rows
 * otherwise); down removes the column only, and up again works, on both dialects.
 */
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migrationsFor } from '../../src/db/index.js';
import { sessionGenerationMigration } from '../../src/db/migrations/0008-session-generation.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { userRowBefore0008 } from './rows.js';

const opened: TestDb[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

describe('migration 0008 over a 0007 database', () => {
  it('adds users.session_generation (0 for every account), and goes down and up again', async () => {
    const t = await createTestDb();
    opened.push(t);
    const { db } = t;
    const all = migrationsFor(db.dialect);
    const previous = Object.fromEntries(Object.entries(all).filter(([n]) => n < '0008'));
    const upTo0008 = Object.fromEntries(
      Object.entries(all).filter(([n]) => n <= '0008-session-generation'),
    );
    await migrateToLatest(db, { migrations: previous });
    const k = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const users = [userRowBefore0008(), userRowBefore0008({ disabled: 1, mfa_enabled: 1 })];
    await k.insertInto('users').values(users).execute();

    await expect(migrateToLatest(db, { migrations: upTo0008 })).resolves.toEqual({
      applied: ['0008-session-generation'],
    });
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      String(a.id) < String(b.id) ? -1 : 1;
    expect((await k.selectFrom('users').selectAll().execute()).sort(byId)).toEqual(
      users.map((u) => ({ ...u, session_generation: 0 })).sort(byId),
    );
    // Not null: an account always has a generation to compare a code's with.
    await expect(
      k
        .updateTable('users')
        .set({ session_generation: null })
        .where('id', '=', users[0]!.id)
        .execute(),
    ).rejects.toThrow();
    await k
      .updateTable('users')
      .set({ session_generation: 3 })
      .where('id', '=', users[0]!.id)
      .execute();

    await sessionGenerationMigration(db.dialect).down?.(db.kysely);
    const after = await k.selectFrom('users').selectAll().execute();
    expect(after.sort(byId)).toEqual([...users].sort(byId));
    await k.deleteFrom('kysely_migration').where('name', '=', '0008-session-generation').execute();
    await expect(migrateToLatest(db, { migrations: upTo0008 })).resolves.toEqual({
      applied: ['0008-session-generation'],
    });
    expect(
      (await k.selectFrom('users').select('session_generation').execute()).map(
        (r) => r.session_generation,
      ),
    ).toEqual([0, 0]);
  });
});
