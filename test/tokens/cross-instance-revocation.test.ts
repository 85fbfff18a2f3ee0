import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig, type ConfigInput } from '../../src/config/index.js';
import { buildTestApp, LogCapture, testConfigInput, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';
import {
  deletePrefix,
  REDIS_SKIP_REASON,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from '../helpers/redis.js';
import { expectAccessRefused, expectAccessWorks, postRefresh } from '../auth/support.js';

/*
 * docs/security.md "Session revocation across instances": every way a session ends is announced
 * on Redis, and another instance that had the session cached as active refuses its token at
 * once, not at its next database re-check (30 s later). Two instances in one process, on one
 * database and one Redis; test/rate-limit/many-instances.test.ts does logout and password change
 * with separate processes.
 */
describe('ending a session on one instance, seen by another through Redis', () => {
  if (!redisUrl) {
    it.skip(REDIS_SKIP_REASON, () => undefined);
    return;
  }
  const prefix = uniquePrefix();
  let a: TestApp;
  let b: BulwarkApp;

  beforeAll(async () => {
    const input: ConfigInput = {
      redis: { url: await requireRedis(), keyPrefix: prefix },
      // Any reuse of a rotated refresh token ends its session (no retry window to wait out).
      tokens: { refreshReuseGraceSeconds: 0 },
    };
    a = await buildTestApp(input);
    b = await buildApp(createConfig(testConfigInput(a.testDb, input)), {
      logger: new LogCapture(),
    });
    await b.ready();
  });
  afterAll(async () => {
    await b?.close();
    await a?.app.close();
    if (redisUrl) await deletePrefix(redisUrl, prefix);
  });

  /** B has the session cached as active; `end` runs on A; B refuses the token within 1 s. */
  async function expectEndedOnB(user: LoggedIn, end: () => Promise<void>): Promise<void> {
    await expectAccessWorks(b, user.accessToken);
    await end();
    await vi.waitFor(() => expectAccessRefused(b, user.accessToken), {
      timeout: 1_000,
      interval: 20,
    });
  }

  const onA = async (
    method: 'POST' | 'PATCH' | 'DELETE',
    url: string,
    token: string,
    payload?: Record<string, unknown>,
  ): Promise<void> => {
    const res = await a.app.inject({
      method,
      url,
      headers: bearer(token),
      ...(payload === undefined ? {} : { payload }),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
  };

  it('logout-all', async () => {
    const user = await registerAndLogin(a.app);
    const other = await login(a.app, user.email);
    await expectAccessWorks(b, other.accessToken);
    await expectEndedOnB(user, () => onA('POST', '/api/v1/auth/logout-all', user.accessToken));
    await expectAccessRefused(b, other.accessToken);
  });

  it('ending one session from the session list', async () => {
    const user = await registerAndLogin(a.app);
    const other = await login(a.app, user.email);
    await expectEndedOnB(other, () =>
      onA('DELETE', `/api/v1/auth/sessions/${other.sessionId}`, user.accessToken),
    );
  });

  it('reuse of a rotated refresh token', async () => {
    const user = await registerAndLogin(a.app);
    const rotated = await postRefresh(a.app, user.refreshToken);
    expect(rotated.statusCode).toBe(200);
    const fresh = { ...user, accessToken: rotated.json<{ accessToken: string }>().accessToken };
    await expectEndedOnB(fresh, async () => {
      expect((await postRefresh(a.app, user.refreshToken)).statusCode).toBe(401);
    });
  });

  it('deleting the account', async () => {
    const user = await registerAndLogin(a.app);
    await expectEndedOnB(user, () => onA('DELETE', `/api/v1/users/${user.id}`, user.accessToken));
  });

  it('an administrator disabling the account, or changing its role', async () => {
    const admin = await createUserAndLogin(a.app, 'admin');
    const disabled = await registerAndLogin(a.app);
    await expectEndedOnB(disabled, () =>
      onA('PATCH', `/api/v1/users/${disabled.id}`, admin.accessToken, { disabled: true }),
    );
    const promoted = await registerAndLogin(a.app);
    await expectEndedOnB(promoted, () =>
      onA('PATCH', `/api/v1/users/${promoted.id}`, admin.accessToken, { role: 'admin' }),
    );
  });

  it('a password reset', async () => {
    const user = await registerAndLogin(a.app);
    await expectEndedOnB(user, async () => {
      await a.app.services.users.setPassword(user.id, 'a brand new passphrase 2026', {});
    });
  });
});
