import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  isUniqueViolation,
  RefreshTokensRepository,
  SessionsRepository,
  UsersRepository,
} from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { refreshTokenRow, sessionRow, T0, userRow } from './rows.js';

describe(`RefreshTokensRepository on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let tokens: RefreshTokensRepository;
  let newSession: () => Promise<string>;

  beforeAll(async () => {
    t = await createMigratedTestDb();
    tokens = new RefreshTokensRepository(t.db.kysely);
    const users = new UsersRepository(t.db.kysely, t.db.dialect);
    const sessions = new SessionsRepository(t.db.kysely);
    newSession = async () => {
      const user = await users.insert(userRow());
      return (await sessions.create(sessionRow(user.id))).id;
    };
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('inserts and finds by hash, times as numbers', async () => {
    const row = refreshTokenRow(await newSession());
    expect(await tokens.insert(row)).toEqual(row);
    const found = await tokens.findByHash(row.token_hash);
    expect(found).toEqual(row);
    expect(typeof found?.expires_at).toBe('number');
    expect(await tokens.findByHash('0'.repeat(64))).toBeUndefined();
  });

  it('refuses a token for an unknown session (foreign key)', async () => {
    await expect(tokens.insert(refreshTokenRow(randomUUID()))).rejects.toThrow();
  });

  it('rotates: marks the old token used and inserts its successor', async () => {
    const sessionId = await newSession();
    const old = await tokens.insert(refreshTokenRow(sessionId));
    const next = refreshTokenRow(sessionId, { created_at: T0 + 5 });
    expect(await tokens.rotate(old.id, next, T0 + 5)).toBe(true);
    expect(await tokens.findByHash(old.token_hash)).toEqual({
      ...old,
      used_at: T0 + 5,
      replaced_by: next.id,
    });
    expect(await tokens.findByHash(next.token_hash)).toEqual(next);
  });

  it('refuses to rotate a used token and inserts nothing', async () => {
    const sessionId = await newSession();
    const old = await tokens.insert(refreshTokenRow(sessionId));
    const first = refreshTokenRow(sessionId);
    expect(await tokens.rotate(old.id, first, T0 + 1)).toBe(true);
    const replay = refreshTokenRow(sessionId);
    expect(await tokens.rotate(old.id, replay, T0 + 2)).toBe(false);
    expect(await tokens.findByHash(replay.token_hash)).toBeUndefined();
    expect(await tokens.findByHash(old.token_hash)).toMatchObject({
      used_at: T0 + 1,
      replaced_by: first.id,
    });
    expect(await tokens.rotate(randomUUID(), refreshTokenRow(sessionId), T0)).toBe(false);
  });

  it('rolls the old token back to unused when the successor cannot be inserted', async () => {
    const sessionId = await newSession();
    const other = await tokens.insert(refreshTokenRow(sessionId));
    const old = await tokens.insert(refreshTokenRow(sessionId));
    const clash = refreshTokenRow(sessionId, { token_hash: other.token_hash });
    const error: unknown = await tokens.rotate(old.id, clash, T0 + 1).catch((e: unknown) => e);
    expect(isUniqueViolation(error)).toBe(true);
    expect(await tokens.findByHash(old.token_hash)).toEqual(old);
    // and the token still rotates afterwards
    expect(await tokens.rotate(old.id, refreshTokenRow(sessionId), T0 + 2)).toBe(true);
  });

  it('lets exactly one of many concurrent rotations of one token win', async () => {
    // On PostgreSQL the racers use separate pools too, as separate instances would.
    const pools =
      t.db.dialect === 'postgres'
        ? await Promise.all(
            [1, 2, 3].map(() => createDatabase({ url: t.url, sqlitePath: t.sqlitePath })),
          )
        : [];
    try {
      const repos = [tokens, ...pools.map((db) => new RefreshTokensRepository(db.kysely))];
      for (let round = 0; round < 5; round++) {
        const sessionId = await newSession();
        const old = await tokens.insert(refreshTokenRow(sessionId));
        const successors = Array.from({ length: 8 }, () => refreshTokenRow(sessionId));
        const results = await Promise.all(
          successors.map((next, i) => repos[i % repos.length]!.rotate(old.id, next, T0 + i)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = successors[results.indexOf(true)]!;
        const stored = await Promise.all(successors.map((s) => tokens.findByHash(s.token_hash)));
        expect(stored.filter((s) => s !== undefined)).toEqual([winner]);
        expect((await tokens.findByHash(old.token_hash))?.replaced_by).toBe(winner.id);
      }
    } finally {
      await Promise.all(pools.map((db) => db.close()));
    }
  });

  it('deletes the tokens of one session only', async () => {
    const sessionId = await newSession();
    const otherSession = await newSession();
    const a = await tokens.insert(refreshTokenRow(sessionId));
    const b = await tokens.insert(refreshTokenRow(sessionId));
    const keep = await tokens.insert(refreshTokenRow(otherSession));
    expect(await tokens.deleteForSession(sessionId)).toBe(2);
    expect(await tokens.findByHash(a.token_hash)).toBeUndefined();
    expect(await tokens.findByHash(b.token_hash)).toBeUndefined();
    expect(await tokens.findByHash(keep.token_hash)).toEqual(keep);
    expect(await tokens.deleteForSession(sessionId)).toBe(0);
  });
});
