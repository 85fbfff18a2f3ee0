import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RefreshTokensRepository,
  SessionsRepository,
  UsersRepository,
} from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { refreshTokenRow, sessionRow, T0, userRow } from './rows.js';

describe(`SessionsRepository on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let users: UsersRepository;
  let sessions: SessionsRepository;
  const newUser = async () => (await users.insert(userRow())).id;

  beforeAll(async () => {
    t = await createMigratedTestDb();
    users = new UsersRepository(t.db.kysely, t.db.dialect);
    sessions = new SessionsRepository(t.db.kysely);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('creates and finds a session, times as numbers', async () => {
    const row = sessionRow(await newUser());
    expect(await sessions.create(row)).toEqual(row);
    const found = await sessions.findById(row.id);
    expect(found).toEqual(row);
    expect(typeof found?.expires_at).toBe('number');
    expect(await sessions.findById(randomUUID())).toBeUndefined();
  });

  it('refuses a session for an unknown user (foreign key)', async () => {
    await expect(sessions.create(sessionRow(randomUUID()))).rejects.toThrow();
  });

  it('lists only live sessions, newest first', async () => {
    const userId = await newUser();
    const now = T0 + 10_000;
    const old = sessionRow(userId, { created_at: T0 + 1 });
    const newer = sessionRow(userId, { created_at: T0 + 2 });
    const ended = sessionRow(userId, {
      created_at: T0 + 3,
      ended_at: T0 + 4,
      end_reason: 'logout',
    });
    const expired = sessionRow(userId, { created_at: T0 + 5, expires_at: now });
    const someoneElse = sessionRow(await newUser(), { created_at: T0 + 6 });
    for (const row of [old, newer, ended, expired, someoneElse]) await sessions.create(row);
    expect(await sessions.listActive(userId, now)).toEqual([newer, old]);
    expect(await sessions.listActive(userId, now - 1)).toEqual([expired, newer, old]);
    expect(await sessions.listActive(randomUUID(), now)).toEqual([]);
  });

  it('touches a live session only', async () => {
    const row = await sessions.create(sessionRow(await newUser()));
    expect(await sessions.touch(row.id, T0 + 60_000)).toBe(true);
    expect((await sessions.findById(row.id))?.last_used_at).toBe(T0 + 60_000);
    await sessions.end(row.id, 'logout', T0 + 70_000);
    expect(await sessions.touch(row.id, T0 + 80_000)).toBe(false);
    expect((await sessions.findById(row.id))?.last_used_at).toBe(T0 + 60_000);
    expect(await sessions.touch(randomUUID(), T0)).toBe(false);
  });

  it('ends a session once; the first reason stands', async () => {
    const row = await sessions.create(sessionRow(await newUser()));
    expect(await sessions.end(row.id, 'refresh_reuse', T0 + 1)).toBe(true);
    expect(await sessions.end(row.id, 'logout', T0 + 2)).toBe(false);
    expect(await sessions.findById(row.id)).toMatchObject({
      ended_at: T0 + 1,
      end_reason: 'refresh_reuse',
    });
    expect(await sessions.end(randomUUID(), 'logout', T0)).toBe(false);
  });

  it('ends all of a user’s open sessions and returns their ids', async () => {
    const userId = await newUser();
    const a = await sessions.create(sessionRow(userId));
    const b = await sessions.create(sessionRow(userId));
    const alreadyEnded = await sessions.create(
      sessionRow(userId, { ended_at: T0 + 1, end_reason: 'logout' }),
    );
    const other = await sessions.create(sessionRow(await newUser()));

    const ended = await sessions.endAllForUser(userId, 'logout_all', T0 + 9);
    expect(ended.sort()).toEqual([a.id, b.id].sort());
    expect(await sessions.findById(a.id)).toMatchObject({
      ended_at: T0 + 9,
      end_reason: 'logout_all',
    });
    expect(await sessions.findById(alreadyEnded.id)).toMatchObject({
      ended_at: T0 + 1,
      end_reason: 'logout',
    });
    expect((await sessions.findById(other.id))?.ended_at).toBeNull();
    expect(await sessions.endAllForUser(userId, 'logout_all', T0 + 10)).toEqual([]);
  });

  it('can spare the caller’s own session', async () => {
    const userId = await newUser();
    const mine = await sessions.create(sessionRow(userId));
    const theirs = await sessions.create(sessionRow(userId));
    expect(await sessions.endAllForUser(userId, 'password_changed', T0 + 1, mine.id)).toEqual([
      theirs.id,
    ]);
    expect((await sessions.findById(mine.id))?.ended_at).toBeNull();
  });

  describe('cascade deletes', () => {
    it('deleting a user deletes their sessions and refresh tokens', async () => {
      const userId = await newUser();
      const tokens = new RefreshTokensRepository(t.db.kysely);
      const session = await sessions.create(sessionRow(userId));
      const token = await tokens.insert(refreshTokenRow(session.id));
      const survivor = await sessions.create(sessionRow(await newUser()));

      expect(await users.delete(userId)).toBe(true);
      expect(await sessions.findById(session.id)).toBeUndefined();
      expect(await tokens.findByHash(token.token_hash)).toBeUndefined();
      expect(await sessions.findById(survivor.id)).toEqual(survivor);
    });

    it('deleting a session deletes its refresh tokens', async () => {
      const tokens = new RefreshTokensRepository(t.db.kysely);
      const session = await sessions.create(sessionRow(await newUser()));
      const token = await tokens.insert(refreshTokenRow(session.id));
      await t.db.kysely.deleteFrom('sessions').where('id', '=', session.id).execute();
      expect(await tokens.findByHash(token.token_hash)).toBeUndefined();
    });
  });
});
