/*
 * Migration 0006 on a database migrated by the previous release (0001-0005), with a user and
 * tokens of both old purposes in it: up keeps the tokens, takes an e-mail change token with its
 * address, keeps every constraint of 0005; down removes the change tokens only, and up again
 * works, on both dialects (SQLite rebuilds the table to change its check).
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, migrationsFor } from '../../src/db/index.js';
import { emailChangeMigration } from '../../src/db/migrations/0006-email-change.js';
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

describe('migration 0006 over a 0005 database', () => {
  it('adds the email_change purpose and new_email, keeps the tokens and constraints, and goes down and up again', async () => {
    const t = await createTestDb();
    opened.push(t);
    const { db } = t;
    const all = migrationsFor(db.dialect);
    const previous = Object.fromEntries(Object.entries(all).filter(([n]) => n < '0006'));
    // Up to this migration only: later ones (0007) have a test of their own.
    const upTo0006 = Object.fromEntries(
      Object.entries(all).filter(([n]) => n <= '0006-email-change'),
    );
    await migrateToLatest(db, { migrations: previous });
    const k = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    const user = userRowBefore0008();
    await k.insertInto('users').values(user).execute();
    // Before: the purpose is refused.
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { purpose: 'email_change' }))
        .execute(),
    ).rejects.toThrow();
    const reset = token(user.id);
    const verification = token(user.id, { purpose: 'email_verification', used_at: T + 5 });
    await k.insertInto('email_tokens').values([reset, verification]).execute();

    await expect(migrateToLatest(db, { migrations: upTo0006 })).resolves.toEqual({
      applied: ['0006-email-change'],
    });
    // The rows of 0005 survive, unchanged, with no new address.
    const kept = await k.selectFrom('email_tokens').selectAll().orderBy('purpose').execute();
    expect(kept).toEqual([verification, reset].map((r) => ({ ...r, new_email: null })));

    const change = token(user.id, { purpose: 'email_change', new_email: 'new@example.com' });
    await k.insertInto('email_tokens').values(change).execute();
    // A change token needs its address; no other token may carry one.
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { purpose: 'email_change' }))
        .execute(),
    ).rejects.toThrow();
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { new_email: 'new@example.com' }))
        .execute(),
    ).rejects.toThrow();
    // 0005's constraints hold in the rebuilt table: one row per hash, known purposes, real users.
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { token_hash: change.token_hash }))
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
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { expires_at: 'soon' }))
        .execute(),
    ).rejects.toThrow();
    // Deleting a user still deletes its tokens.
    const other = userRowBefore0008();
    await k.insertInto('users').values(other).execute();
    await k
      .insertInto('email_tokens')
      .values(token(other.id, { purpose: 'email_change', new_email: 'x@example.com' }))
      .execute();
    await k.deleteFrom('users').where('id', '=', other.id).execute();
    expect(
      await k.selectFrom('email_tokens').select('id').where('user_id', '=', other.id).execute(),
    ).toEqual([]);
    // The lookup index is there again.
    const indexes =
      db.dialect === 'postgres'
        ? (
            await sql<{
              name: string;
            }>`select indexname as name from pg_indexes where tablename = 'email_tokens'`.execute(
              db.kysely,
            )
          ).rows
        : (
            await sql<{
              name: string;
            }>`select name from sqlite_master where type = 'index' and tbl_name = 'email_tokens'`.execute(
              db.kysely,
            )
          ).rows;
    expect(indexes.map((i) => i.name)).toContain('email_tokens_user_id_purpose_idx');

    await emailChangeMigration(db.dialect).down!(db.kysely);
    // Down: the change tokens are gone, the others stay, and the purpose is refused again.
    expect(
      (await k.selectFrom('email_tokens').select('id').orderBy('purpose').execute()).map(
        (r) => r.id,
      ),
    ).toEqual([verification.id, reset.id]);
    await expect(
      k
        .insertInto('email_tokens')
        .values(token(user.id, { purpose: 'email_change' }))
        .execute(),
    ).rejects.toThrow();
    await sql`delete from kysely_migration where name = '0006-email-change'`.execute(db.kysely);
    await expect(migrateToLatest(db, { migrations: upTo0006 })).resolves.toEqual({
      applied: ['0006-email-change'],
    });
    expect(await k.selectFrom('email_tokens').select('id').execute()).toHaveLength(2);
    await k
      .insertInto('email_tokens')
      .values(token(user.id, { purpose: 'email_change', new_email: 'again@example.com' }))
      .execute();
  });
});
