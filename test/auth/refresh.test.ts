import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { jwtPayload, registerAndLogin, type LoggedIn } from '../helpers/identity.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  postLogin,
  postRefresh,
  refreshOk,
} from './support.js';

const IDLE_SECONDS = 3_600;
const ABSOLUTE_SECONDS = 7_200;
const GRACE_SECONDS = 10;

/** The app's clock: starts now, moved forward by tests (never back). */
let clock = Date.now();
function advance(seconds: number): void {
  clock += seconds * 1000;
}

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp(
    {
      tokens: {
        refreshIdleTtlSeconds: IDLE_SECONDS,
        refreshAbsoluteTtlSeconds: ABSOLUTE_SECONDS,
        refreshReuseGraceSeconds: GRACE_SECONDS,
      },
    },
    { now: () => clock },
  );
});
afterAll(async () => {
  await t.app.close();
});

describe('POST /api/v1/auth/refresh', () => {
  it('returns a new pair for the same session, and the old refresh token stops working', async () => {
    const user = await registerAndLogin(t.app);
    const res = await postRefresh(t.app, user.refreshToken);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const pair = res.json<Record<string, unknown>>();
    expect(Object.keys(pair).sort()).toEqual([
      'accessToken',
      'expiresIn',
      'refreshToken',
      'tokenType',
    ]);
    expect(pair).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(pair.refreshToken).toMatch(/^bwr_[A-Za-z0-9_-]{43}$/);
    expect(pair.refreshToken).not.toBe(user.refreshToken);
    expect(pair.accessToken).not.toBe(user.accessToken);

    const claims = jwtPayload(pair.accessToken as string);
    expect(claims.sid).toBe(user.sessionId);
    expect(claims.sub).toBe(user.id);
    expect(claims.jti).not.toBe(jwtPayload(user.accessToken).jti);
    await expectAccessWorks(t.app, pair.accessToken as string);

    await expectRefreshRefused(t.app, user.refreshToken);
    // The new one works, and rotates again.
    const next = await refreshOk(t.app, pair.refreshToken as string);
    expect(next.refreshToken).not.toBe(pair.refreshToken);
  });

  it('stores refresh tokens only as hashes', async () => {
    const user = await registerAndLogin(t.app);
    const rows = await t.testDb.db.kysely
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('session_id', '=', user.sessionId)
      .execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(user.refreshToken.slice(4));
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('records the use on the session (lastUsedAt moves)', async () => {
    const user = await registerAndLogin(t.app);
    const before = await t.app.services.sessions.find(user.sessionId);
    advance(60);
    await refreshOk(t.app, user.refreshToken);
    const after = await t.app.services.sessions.find(user.sessionId);
    expect(after!.last_used_at).toBeGreaterThan(before!.last_used_at);
  });

  it('hands out no pair when a logout ends the session while the token is being rotated', async () => {
    const user = await registerAndLogin(t.app);
    // The logout lands after the refresh read the session as active, before it rotates.
    const repo = (
      t.app.services.refreshTokens as unknown as {
        repo: { rotate: (...args: never[]) => Promise<boolean> };
      }
    ).repo;
    const rotate = repo.rotate.bind(repo);
    const spy = vi.spyOn(repo, 'rotate').mockImplementationOnce(async (...args) => {
      const out = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: { authorization: `Bearer ${user.accessToken}` },
      });
      expect(out.statusCode).toBe(204);
      return rotate(...args);
    });
    try {
      const res = await postRefresh(t.app, user.refreshToken);
      expect(spy).toHaveBeenCalledTimes(1);
      expectProblem(res, 401, 'invalid_refresh_token');
    } finally {
      spy.mockRestore();
    }
    await expectRefreshRefused(t.app, user.refreshToken);
  });

  it('never writes a refresh or access token to the log', async () => {
    const user = await registerAndLogin(t.app);
    const next = await refreshOk(t.app, user.refreshToken);
    await postRefresh(t.app, user.refreshToken);
    const log = t.logs.raw.join('\n');
    for (const secret of [user.refreshToken, next.refreshToken, next.accessToken]) {
      expect(log).not.toContain(secret);
    }
  });

  describe('invalid tokens', () => {
    it.each([
      ['garbage', 'garbage'],
      ['an unknown well-formed token', `bwr_${'A'.repeat(43)}`],
      ['a token without the prefix', 'A'.repeat(47)],
      ['a token with a bad character', `bwr_${'A'.repeat(42)}!`],
      ['SQL', "' OR 1=1 --"],
    ])('answers %s with 401 invalid_refresh_token', async (_label, token) => {
      const res = await postRefresh(t.app, token);
      const body = expectProblem(res, 401, 'invalid_refresh_token');
      expect(body.errors).toBeUndefined();
    });

    it('refuses an access token presented as a refresh token', async () => {
      const user = await registerAndLogin(t.app);
      await expectRefreshRefused(t.app, user.accessToken.slice(0, 512));
    });

    it('answers every kind of refusal with the same body', async () => {
      const user = await registerAndLogin(t.app);
      await refreshOk(t.app, user.refreshToken);
      const reused = (await postRefresh(t.app, user.refreshToken)).json<Record<string, unknown>>();
      const unknown = (await postRefresh(t.app, `bwr_${'B'.repeat(43)}`)).json<
        Record<string, unknown>
      >();
      const { requestId: _a, ...a } = reused;
      const { requestId: _b, ...b } = unknown;
      expect(a).toEqual(b);
    });

    it.each([
      [{}, '/body/refreshToken'],
      [{ refreshToken: '' }, '/body/refreshToken'],
      [{ refreshToken: 42 }, '/body/refreshToken'],
      [{ refreshToken: 'x'.repeat(513) }, '/body/refreshToken'],
      [{ refreshToken: `bwr_${'A'.repeat(43)}`, sessionId: 'x' }, '/body/sessionId'],
    ])('rejects the body %j with 400 validation_failed', async (payload, path) => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload });
      const body = expectProblem(res, 400, 'validation_failed');
      expect((body.errors as { path: string }[]).map((e) => e.path)).toContain(path);
    });
  });

  describe('reuse of a rotated token', () => {
    it('within the grace window: refused, but the session survives', async () => {
      const events = captureEvents(t.app);
      const user = await registerAndLogin(t.app);
      const second = await refreshOk(t.app, user.refreshToken);
      advance(GRACE_SECONDS - 1);
      await expectRefreshRefused(t.app, user.refreshToken);
      // A client retry or a second tab, not a theft: nothing is revoked.
      await expectAccessWorks(t.app, second.accessToken);
      await expectAccessWorks(t.app, user.accessToken);
      const third = await refreshOk(t.app, second.refreshToken);
      await expectAccessWorks(t.app, third.accessToken);
      expect(events.filter((e) => e.type === 'refresh.reused')).toEqual([]);
    });

    it('after the grace window: refused, and the whole session is revoked', async () => {
      const events = captureEvents(t.app);
      const user = await registerAndLogin(t.app);
      const second = await refreshOk(t.app, user.refreshToken);
      advance(GRACE_SECONDS + 1);
      await expectRefreshRefused(t.app, user.refreshToken);
      await expectRefreshRefused(t.app, second.refreshToken);
      await expectAccessRefused(t.app, second.accessToken);
      expect(events).toContainEqual(
        expect.objectContaining({
          type: 'refresh.reused',
          outcome: 'denied',
          target: { type: 'session', id: user.sessionId },
        }),
      );
    });
  });

  describe('concurrent refreshes', () => {
    it('lets exactly one of five parallel exchanges win, and keeps the session', async () => {
      const events = captureEvents(t.app);
      const user = await registerAndLogin(t.app);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => postRefresh(t.app, user.refreshToken)),
      );
      const statuses = results.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([200, 401, 401, 401, 401]);
      for (const loser of results.filter((r) => r.statusCode === 401)) {
        expectProblem(loser, 401, 'invalid_refresh_token');
      }
      const winner = results
        .find((r) => r.statusCode === 200)!
        .json<{
          accessToken: string;
          refreshToken: string;
        }>();
      // Losing a race is a retry, not a theft.
      expect(events.filter((e) => e.type === 'refresh.reused')).toEqual([]);
      await expectAccessWorks(t.app, winner.accessToken);
      await expectAccessWorks(t.app, user.accessToken);
      const next = await refreshOk(t.app, winner.refreshToken);
      await expectAccessWorks(t.app, next.accessToken);
      // Exactly one successor was stored.
      const rows = await t.testDb.db.kysely
        .selectFrom('refresh_tokens')
        .select('id')
        .where('session_id', '=', user.sessionId)
        .execute();
      expect(rows).toHaveLength(3);
    });
  });

  describe('expiry', () => {
    it('refuses a refresh token left unused for longer than the idle lifetime', async () => {
      const user = await registerAndLogin(t.app);
      advance(IDLE_SECONDS + 1);
      await expectRefreshRefused(t.app, user.refreshToken);
    });

    it('accepts one used just within the idle lifetime, which restarts the idle clock', async () => {
      const user = await registerAndLogin(t.app);
      advance(IDLE_SECONDS - 5);
      const second = await refreshOk(t.app, user.refreshToken);
      advance(IDLE_SECONDS - 5);
      await refreshOk(t.app, second.refreshToken);
    });

    it('ends a session at its absolute lifetime however active it is', async () => {
      const user = await registerAndLogin(t.app);
      let token = user.refreshToken;
      // Refreshed every 50 minutes: never idle, yet the session ends after 2 hours.
      for (let elapsed = 3_000; elapsed < ABSOLUTE_SECONDS; elapsed += 3_000) {
        advance(3_000);
        token = (await refreshOk(t.app, token)).refreshToken;
      }
      advance(3_000);
      await expectRefreshRefused(t.app, token);
      expect(await t.app.services.sessions.listActive(user.id)).toEqual([]);
    });

    it('stops the access tokens of a session at its absolute lifetime too', async () => {
      const user = await registerAndLogin(t.app);
      advance(3_000);
      const second = await refreshOk(t.app, user.refreshToken);
      advance(3_000);
      const third = await refreshOk(t.app, second.refreshToken);
      advance(ABSOLUTE_SECONDS - 6_000 - 10);
      // Issued 10 seconds before the session's end: its own exp is 15 minutes later.
      const last = await refreshOk(t.app, third.refreshToken);
      await expectAccessWorks(t.app, last.accessToken);
      advance(11);
      await expectAccessRefused(t.app, last.accessToken);
    });

    it('never lets a refresh token outlive its session', async () => {
      const user = await registerAndLogin(t.app);
      advance(3_000);
      const second = await refreshOk(t.app, user.refreshToken);
      advance(3_000);
      // Issued 100 minutes in: its idle lifetime would run past the 2-hour session.
      const third = await refreshOk(t.app, second.refreshToken);
      const session = await t.app.services.sessions.find(user.sessionId);
      const rows = await t.testDb.db.kysely
        .selectFrom('refresh_tokens')
        .select('expires_at')
        .where('session_id', '=', user.sessionId)
        .execute();
      expect(Math.max(...rows.map((r) => r.expires_at))).toBe(session!.expires_at);
      advance(ABSOLUTE_SECONDS - 6_000 + 1);
      await expectRefreshRefused(t.app, third.refreshToken);
    });
  });

  describe('disabled users', () => {
    it('refuses the refresh of a disabled user and ends the session', async () => {
      const user: LoggedIn = await registerAndLogin(t.app);
      await t.app.services.usersRepo.update(user.id, { disabled: 1 });
      await expectRefreshRefused(t.app, user.refreshToken);
      await expectAccessRefused(t.app, user.accessToken);
      // Re-enabling the account does not bring the session back.
      await t.app.services.usersRepo.update(user.id, { disabled: 0 });
      await expectRefreshRefused(t.app, user.refreshToken);
      expect(await t.app.services.sessions.listActive(user.id)).toEqual([]);
      expect((await postLogin(t.app, user.email)).statusCode).toBe(200);
    });

    it('refuses the refresh of a deleted user', async () => {
      const user = await registerAndLogin(t.app);
      await t.app.services.usersRepo.delete(user.id);
      await expectRefreshRefused(t.app, user.refreshToken);
    });
  });
});

describe('reuse detection with no grace window', () => {
  let strict: TestApp;
  let strictClock = Date.now();
  beforeAll(async () => {
    strict = await buildTestApp(
      { tokens: { refreshReuseGraceSeconds: 0 } },
      { now: () => strictClock },
    );
  });
  afterAll(async () => {
    await strict.app.close();
  });

  it('revokes the session at the first reuse, newest tokens included, and emits refresh.reused', async () => {
    const events = captureEvents(strict.app);
    const user = await registerAndLogin(strict.app);
    const other = await postLogin(strict.app, user.email);
    const otherPair = other.json<{ accessToken: string; refreshToken: string }>();
    const second = await refreshOk(strict.app, user.refreshToken);
    const third = await refreshOk(strict.app, second.refreshToken);
    // One millisecond is already outside a zero-second window.
    strictClock += 1_000;

    // A thief replays the first token.
    const res = await postRefresh(strict.app, user.refreshToken);
    expectProblem(res, 401, 'invalid_refresh_token');

    // Every token of the family is dead: the newest refresh token and every access token.
    await expectRefreshRefused(strict.app, third.refreshToken);
    await expectAccessRefused(strict.app, third.accessToken);
    await expectAccessRefused(strict.app, second.accessToken);
    await expectAccessRefused(strict.app, user.accessToken);

    const reused = events.filter((e) => e.type === 'refresh.reused');
    expect(reused).toHaveLength(1);
    expect(reused[0]).toMatchObject({
      outcome: 'denied',
      target: { type: 'session', id: user.sessionId },
      details: { userId: user.id },
      requestId: res.headers['x-request-id'],
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        target: { type: 'session', id: user.sessionId },
        details: { reason: 'refresh_reuse', userId: user.id },
      }),
    );
    expect(JSON.stringify(events)).not.toContain(user.refreshToken);
    const row = await strict.app.services.sessions.find(user.sessionId);
    expect(row?.end_reason).toBe('refresh_reuse');

    // Only that session: the user's other session and a fresh login still work.
    await expectAccessWorks(strict.app, otherPair.accessToken);
    await refreshOk(strict.app, otherPair.refreshToken);
    expect((await postLogin(strict.app, user.email)).statusCode).toBe(200);
  });

  it('treats a replay of any older token in the chain as reuse', async () => {
    const user = await registerAndLogin(strict.app);
    const second = await refreshOk(strict.app, user.refreshToken);
    const third = await refreshOk(strict.app, second.refreshToken);
    strictClock += 1_000;
    await expectRefreshRefused(strict.app, second.refreshToken);
    await expectRefreshRefused(strict.app, third.refreshToken);
    await expectAccessRefused(strict.app, third.accessToken);
  });

  it('records one detection for replays that arrive together: one refresh.reused, one session.ended', async () => {
    const user = await registerAndLogin(strict.app);
    await refreshOk(strict.app, user.refreshToken);
    strictClock += 1_000;
    const events = captureEvents(strict.app);
    // Every replay reads the session as active before any of them ends it, as requests that
    // arrive together on a pool of database connections do.
    const REPLAYS = 4;
    const sessions = strict.app.services.sessions;
    const find = sessions.find.bind(sessions);
    let read = 0;
    let allRead!: () => void;
    const barrier = new Promise<void>((resolve) => (allRead = resolve));
    const spy = vi.spyOn(sessions, 'find').mockImplementation(async (id) => {
      const row = await find(id);
      if (++read === REPLAYS) allRead();
      await barrier;
      return row;
    });
    try {
      const results = await Promise.all(
        Array.from({ length: REPLAYS }, () => postRefresh(strict.app, user.refreshToken)),
      );
      for (const res of results) expectProblem(res, 401, 'invalid_refresh_token');
    } finally {
      spy.mockRestore();
    }
    // One theft, one alert: the refresh.reused count feeds BulwarkRefreshTokenReuse.
    expect(events.filter((e) => e.type === 'refresh.reused')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'session.ended')).toHaveLength(1);
    expect((await strict.app.services.sessions.find(user.sessionId))?.end_reason).toBe(
      'refresh_reuse',
    );
  });
});
