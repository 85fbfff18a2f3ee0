import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { buildTestApp, LogCapture, testConfigInput, type TestApp } from '../helpers/app.js';
import { bearer, login, registerAndLogin } from '../helpers/identity.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  refreshOk,
} from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

function logout(path: 'logout' | 'logout-all', headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url: `/api/v1/auth/${path}`, headers });
}

describe('POST /api/v1/auth/logout', () => {
  it('answers 204 and ends this session at once: its access and refresh tokens stop working', async () => {
    const user = await registerAndLogin(t.app);
    const refreshed = await refreshOk(t.app, user.refreshToken);
    const events = captureEvents(t.app);

    const res = await logout('logout', bearer(refreshed.accessToken));
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    // Both access tokens of the session, the old and the current, are refused immediately.
    await expectAccessRefused(t.app, refreshed.accessToken);
    await expectAccessRefused(t.app, user.accessToken);
    await expectRefreshRefused(t.app, refreshed.refreshToken);
    await expectRefreshRefused(t.app, user.refreshToken);

    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        actorId: user.id,
        target: { type: 'session', id: user.sessionId },
        details: { reason: 'logout', userId: user.id },
      }),
    );
    const row = await t.app.services.sessions.find(user.sessionId);
    expect(row?.end_reason).toBe('logout');
  });

  it('leaves the other sessions of the same user working', async () => {
    const first = await registerAndLogin(t.app);
    const second = await login(t.app, first.email);
    expect((await logout('logout', bearer(first.accessToken))).statusCode).toBe(204);
    await expectAccessRefused(t.app, first.accessToken);
    await expectAccessWorks(t.app, second.accessToken);
    const next = await refreshOk(t.app, second.refreshToken);
    await expectAccessWorks(t.app, next.accessToken);
  });

  it('accepts the scheme spelled in lower or upper case (RFC 9110 §11.1)', async () => {
    for (const scheme of ['bearer', 'BEARER']) {
      const user = await registerAndLogin(t.app);
      const res = await logout('logout', { authorization: `${scheme} ${user.accessToken}` });
      expect(res.statusCode, res.body).toBe(204);
      await expectAccessRefused(t.app, user.accessToken);
    }
  });

  it('refuses a second logout with the same token', async () => {
    const user = await registerAndLogin(t.app);
    expect((await logout('logout', bearer(user.accessToken))).statusCode).toBe(204);
    const res = await logout('logout', bearer(user.accessToken));
    expectProblem(res, 401, 'invalid_token');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('is refused by another instance on the same database, which never saw the logout', async () => {
    const user = await registerAndLogin(t.app);
    const other = await buildApp(createConfig(testConfigInput(t.testDb)), {
      logger: new LogCapture(),
    });
    try {
      await expectAccessWorks(other, user.accessToken);
      expect((await logout('logout', bearer(user.accessToken))).statusCode).toBe(204);
      // The other instance trusts its "active" answer for a bounded time; a cold cache (a new
      // instance, or one that never checked this session) asks the database.
      const third = await buildApp(createConfig(testConfigInput(t.testDb)), {
        logger: new LogCapture(),
      });
      try {
        await expectAccessRefused(third, user.accessToken);
        await expectRefreshRefused(third, user.refreshToken);
      } finally {
        await third.close();
      }
    } finally {
      await other.close();
    }
  });
});

describe('POST /api/v1/auth/logout-all', () => {
  it('answers 204 and ends every session of the user', async () => {
    const a = await registerAndLogin(t.app);
    const b = await login(t.app, a.email);
    const c = await login(t.app, a.email);
    const bystander = await registerAndLogin(t.app);
    const events = captureEvents(t.app);

    const res = await logout('logout-all', bearer(b.accessToken));
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    for (const session of [a, b, c]) {
      await expectAccessRefused(t.app, session.accessToken);
      await expectRefreshRefused(t.app, session.refreshToken);
    }
    expect(await t.app.services.sessions.listActive(a.id)).toEqual([]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        actorId: a.id,
        target: { type: 'user', id: a.id },
        details: { reason: 'logout_all', sessions: 3 },
      }),
    );

    // Other users are untouched, and the user can log in again.
    await expectAccessWorks(t.app, bystander.accessToken);
    await refreshOk(t.app, bystander.refreshToken);
    const again = await login(t.app, a.email);
    await expectAccessWorks(t.app, again.accessToken);
  });
});

describe.each(['logout', 'logout-all'] as const)(
  'POST /api/v1/auth/%s without a valid bearer',
  (path) => {
    it('answers 401 authentication_required with a Bearer challenge when no token is sent', async () => {
      const res = await logout(path);
      expectProblem(res, 401, 'authentication_required');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
    });

    it.each([
      ['a Basic credential', 'Basic dXNlcjpwYXNz'],
      ['a bare token', 'eyJhbGciOiJFZERTQSJ9.e30.c2ln'],
    ])(
      'answers 401 authentication_required without an error code to %s (RFC 6750 §3.1)',
      async (_label, authorization) => {
        const res = await logout(path, { authorization });
        expectProblem(res, 401, 'authentication_required');
        expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
      },
    );

    it.each([
      ['a garbage bearer', 'Bearer not-a-jwt'],
      ['a garbage bearer in lower case', 'bearer not-a-jwt'],
      ['an empty bearer', 'Bearer '],
      ['a refresh token as bearer', 'Bearer bwr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ])('answers 401 invalid_token to %s', async (_label, authorization) => {
      const res = await logout(path, { authorization });
      expectProblem(res, 401, 'invalid_token');
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    });

    it('does not end anything when refused', async () => {
      const user = await registerAndLogin(t.app);
      await logout(path, { authorization: 'Bearer not-a-jwt' });
      await expectAccessWorks(t.app, user.accessToken);
    });
  },
);
