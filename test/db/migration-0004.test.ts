/*
 * Migration 0004 on a database migrated by the previous release (0001-0003), with a session in
 * it: up (the session's amr is null), down and up again, keeping the rows, on both dialects.
 */
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migrationsFor } from '../../src/db/index.js';
import { mfaMigration } from '../../src/db/migrations/0004-mfa.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { userRowBefore0008 } from './rows.js';

const opened: TestDb[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

describe('migration 0004 over a 0003 database', () => {
  it('adds sessions.amr (null for old sessions), goes down and up again keeping the rows', async () => {
    const t = await createTestDb();
    opened.push(t);
    const { db } = t;
    const all = migrationsFor(db.dialect);
    const previous = Object.fromEntries(Object.entries(all).filter(([n]) => n < '0004'));
    const upTo0004 = Object.fromEntries(Object.entries(all).filter(([n]) => n <= '0004-mfa'));
    await expect(migrateToLatest(db, { migrations: previous })).resolves.toEqual({
      applied: ['0001-identity', '0002-audit-events', '0003-identities'],
    });
    const user = userRowBefore0008();
    // The schema of each step, not the app's current Database type.
    const k = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    await k.insertInto('users').values(user).execute();
    const T = Date.UTC(2030, 0, 1);
    await k
      .insertInto('sessions')
      .values({
        id: 'old-session',
        user_id: user.id,
        created_at: T,
        last_used_at: T,
        expires_at: T + 3_600_000,
        ended_at: null,
        end_reason: null,
        ip: null,
        user_agent: null,
      })
      .execute();

    await expect(migrateToLatest(db, { migrations: upTo0004 })).resolves.toEqual({
      applied: ['0004-mfa'],
    });
    const row = await k
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', 'old-session')
      .executeTakeFirstOrThrow();
    expect(row.amr).toBeNull();
    await k
      .updateTable('sessions')
      .set({ amr: 'pwd otp mfa' })
      .where('id', '=', 'old-session')
      .execute();

    await mfaMigration(db.dialect).down!(db.kysely);
    const after = await k
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', 'old-session')
      .executeTakeFirstOrThrow();
    expect(after).not.toHaveProperty('amr');
    expect(after.user_id).toBe(user.id);
    await sql`delete from kysely_migration where name = '0004-mfa'`.execute(db.kysely);
    await expect(migrateToLatest(db, { migrations: upTo0004 })).resolves.toEqual({
      applied: ['0004-mfa'],
    });
    const again = await k
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', 'old-session')
      .executeTakeFirstOrThrow();
    expect(again.amr).toBeNull();
  });
});
