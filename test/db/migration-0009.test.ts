/*
 * Migration 0009 on a database migrated by the previous release (0001-0008), with sessions in
 * it: up keeps every session and gives it no sign-in time of its own (null: its start for a
 * password sign-in, unknown for a provider one); down removes the column only, and up again
 * works, on both dialects.
 */
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migrationsFor } from '../../src/db/index.js';
import { sessionSignedInAtMigration } from '../../src/db/migrations/0009-session-signed-in-at.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sessionRow, T0, userRow } from './rows.js';

const opened: TestDb[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

describe('migration 0009 over a 0008 database', () => {
  it('adds sessions.signed_in_at (null for every session), and goes down and up again', async () => {
    const t = await createTestDb();
    opened.push(t);
    const { db } = t;
    const all = migrationsFor(db.dialect);
    const previous = Object.fromEntries(Object.entries(all).filter(([n]) => n < '0009'));
    const upTo0009 = Object.fromEntries(
      Object.entries(all).filter(([n]) => n <= '0009-session-signed-in-at'),
    );
    await migrateToLatest(db, { migrations: previous });
    const k = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const user = userRow();
    await k.insertInto('users').values(user).execute();
    // As the table was before 0009: no signed_in_at.
    const sessions = [
      sessionRow(user.id),
      sessionRow(user.id, { identity_id: 'a-linked-identity', amr: null }),
      sessionRow(user.id, { ended_at: T0 + 5, end_reason: 'logout' }),
    ].map(({ signed_in_at: _added, ...row }) => row);
    await k.insertInto('sessions').values(sessions).execute();

    await expect(migrateToLatest(db, { migrations: upTo0009 })).resolves.toEqual({
      applied: ['0009-session-signed-in-at'],
    });
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      String(a.id) < String(b.id) ? -1 : 1;
    expect((await k.selectFrom('sessions').selectAll().execute()).sort(byId)).toEqual(
      sessions.map((s) => ({ ...s, signed_in_at: null })).sort(byId),
    );
    // Epoch ms past 2^31 fit (bigint on PostgreSQL).
    await k
      .updateTable('sessions')
      .set({ signed_in_at: T0 - 7_200_000 })
      .where('id', '=', sessions[1]!.id)
      .execute();
    expect(
      await k
        .selectFrom('sessions')
        .select('signed_in_at')
        .where('id', '=', sessions[1]!.id)
        .execute(),
    ).toEqual([{ signed_in_at: T0 - 7_200_000 }]);

    await sessionSignedInAtMigration(db.dialect).down?.(db.kysely);
    const after = await k.selectFrom('sessions').selectAll().execute();
    expect(after.sort(byId)).toEqual([...sessions].sort(byId));
    await k
      .deleteFrom('kysely_migration')
      .where('name', '=', '0009-session-signed-in-at')
      .execute();
    await expect(migrateToLatest(db, { migrations: upTo0009 })).resolves.toEqual({
      applied: ['0009-session-signed-in-at'],
    });
    expect(await k.selectFrom('sessions').select('signed_in_at').execute()).toHaveLength(3);
  });
});
