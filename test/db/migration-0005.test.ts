/*
 * Migration 0005 on a database migrated by the previous release (0001-0004), with a user in it:
 * up, a token stored, its constraints, down and up again keeping the users, on both dialects.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migrationsFor } from '../../src/db/index.js';
import { emailTokensMigration } from '../../src/db/migrations/0005-email-tokens.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { userRowBefore0008 } from './rows.js';

const opened: TestDb[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.cleanup()));
});

const T = Date.UTC(2030, 0, 1);

function token(userId: string, overrides: Record<string, unknown> = {}) {
  return {
    id: `token-${Math.random()}`,
    user_id: userId,
    purpose: 'password_reset',
    token_hash: `hash-${Math.random()}`,
    email: 'someone@example.com',
    created_at: T,
    expires_at: T + 1_800_000,
    used_at: null,
    ...overrides,
  };
}

describe('migration 0005 over a 0004 database', () => {
  it('adds email_tokens with its constraints, and goes down and up again keeping the users', async () => {
    const t = await createTestDb();
    opened.push(t);
    const { db } = t;
    const all = migrationsFor(db.dialect);
    const previous = Object.fromEntries(Object.entries(all).filter(([n]) => n < '0005'));
    // Up to this migration only: later ones (0006) have a test of their own.
    const upTo0005 = Object.fromEntries(
      Object.entries(all).filter(([n]) => n <= '0005-email-tokens'),
    );
    await migrateToLatest(db, { migrations: previous });
    // The schema of each step, not the app's current Database type.
    const k = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const user = userRowBefore0008();
    await k.insertInto('users').values(user).execute();

    await expect(migrateToLatest(db, { migrations: upTo0005 })).resolves.toEqual({
      applied: ['0005-email-tokens'],
    });
    const first = token(user.id);
    await k.insertInto('email_tokens').values(first).execute();
    // One row per token hash; a purpose of the list only; a user that exists only.
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { token_hash: first.token_hash }))
        .execute(),
    ).rejects.toThrow();
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { purpose: 'login' }))
        .execute(),
    ).rejects.toThrow();
    await expect(
      k.insertInto('email_tokens').values(token('no-such-user')).execute(),
    ).rejects.toThrow();
    // Deleting the user deletes its tokens.
    const other = userRowBefore0008();
    await k.insertInto('users').values(other).execute();
    await k.insertInto('email_tokens').values(token(other.id)).execute();
    await k.deleteFrom('users').where('id', '=', other.id).execute();
    expect(
      await k.selectFrom('email_tokens').select('id').where('user_id', '=', other.id).execute(),
    ).toEqual([]);

    await emailTokensMigration(db.dialect).down!(db.kysely);
    await expect(k.selectFrom('email_tokens').selectAll().execute()).rejects.toThrow();
    await sql`delete from kysely_migration where name = '0005-email-tokens'`.execute(db.kysely);
    await expect(migrateToLatest(db, { migrations: upTo0005 })).resolves.toEqual({
      applied: ['0005-email-tokens'],
    });
    expect(await k.selectFrom('email_tokens').selectAll().execute()).toEqual([]);
    expect(
      await k.selectFrom('users').select('id').where('id', '=', user.id).execute(),
    ).toHaveLength(1);
  });
});
