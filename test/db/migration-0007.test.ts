/*
 * Migration 0007 on a database migrated by the previous release (0001-0006), with sessions in it:
 * up keeps every session (none signed in through an identity, as far as anyone knows) and takes
 * a session's identity; down removes the column only, and up again works, on both dialects.
 */
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migrationsFor } from '../../src/db/index.js';
import { sessionIdentityMigration } from '../../src/db/migrations/0007-session-identity.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sessionRow, userRowBefore0008 } from './rows.js';

const opened: TestDb[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

describe('migration 0007 over a 0006 database', () => {
  it('adds sessions.identity_id, keeps the sessions, and goes down and up again', async () => {
    const t = await createTestDb();
    opened.push(t);
    const { db } = t;
    const all = migrationsFor(db.dialect);
    const previous = Object.fromEntries(Object.entries(all).filter(([n]) => n < '0007'));
    const upTo0007 = Object.fromEntries(
      Object.entries(all).filter(([n]) => n <= '0007-session-identity'),
    );
    await migrateToLatest(db, { migrations: previous });
    const k = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const user = userRowBefore0008();
    await k.insertInto('users').values(user).execute();
    // As the table was before 0007 (and 0009): no identity_id, no signed_in_at.
    const { identity_id: _none, signed_in_at: _later, ...open } = sessionRow(user.id);
    const {
      identity_id: _none2,
      signed_in_at: _later2,
      ...ended
    } = sessionRow(user.id, {
      ended_at: 5,
      end_reason: 'logout',
    });
    await k.insertInto('sessions').values([open, ended]).execute();

    await expect(migrateToLatest(db, { migrations: upTo0007 })).resolves.toEqual({
      applied: ['0007-session-identity'],
    });
    const kept = await k.selectFrom('sessions').selectAll().orderBy('id').execute();
    expect(kept).toEqual(
      [open, ended]
        .map((s) => ({ ...s, identity_id: null }))
        .sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    const { signed_in_at: _later3, ...viaIdp } = sessionRow(user.id, {
      identity_id: 'a-linked-identity',
    });
    await k.insertInto('sessions').values(viaIdp).execute();
    expect(
      await k.selectFrom('sessions').select('identity_id').where('id', '=', viaIdp.id).execute(),
    ).toEqual([{ identity_id: 'a-linked-identity' }]);

    await sessionIdentityMigration(db.dialect).down?.(db.kysely);
    const after = await k.selectFrom('sessions').selectAll().execute();
    expect(after).toHaveLength(3);
    for (const row of after) expect(row).not.toHaveProperty('identity_id');
    await k.deleteFrom('kysely_migration').where('name', '=', '0007-session-identity').execute();
    await expect(migrateToLatest(db, { migrations: upTo0007 })).resolves.toEqual({
      applied: ['0007-session-identity'],
    });
    expect(await k.selectFrom('sessions').select('identity_id').execute()).toHaveLength(3);
  });
});
