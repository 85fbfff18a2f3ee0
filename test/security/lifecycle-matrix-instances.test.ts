/*
 * Account lifecycle × other instances (lifecycle matrix, findings-lifecycle.md): the state
 * changes that test/tokens/cross-instance-revocation.test.ts leaves out — MFA turned on, an
 * administrator's MFA reset, an address change, and the operator's commands (`bulwark user
 * set-password`, `bulwark user mfa-reset`, `bulwark keys rotate --revoke-old`), which run in a
 * process of their own. Instance B has the session cached as active; the change is made
 * elsewhere; B must refuse the token at once (within 1 s), not at its database re-check 30 s
 * later. One database, one Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig, type ConfigInput } from '../../src/config/index.js';
import { totpCode } from '../../src/crypto/index.js';
import {
  buildTestApp,
  LogCapture,
  TEST_MASTER_KEY,
  testConfigInput,
  type TestApp,
} from '../helpers/app.js';
import { cliDatabaseEnv, runCli } from '../helpers/cli.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';
import {
  deletePrefix,
  REDIS_SKIP_REASON,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from '../helpers/redis.js';
import { lastOutboxToken } from '../helpers/smtp.js';
import { expectAccessRefused, expectAccessWorks, refreshOk } from '../auth/support.js';

describe('a lifecycle change made elsewhere, seen by another instance through Redis', () => {
  if (!redisUrl) {
    it.skip(REDIS_SKIP_REASON, () => undefined);
    return;
  }
  const prefix = uniquePrefix();
  const outbox = mkdtempSync(join(tmpdir(), 'bulwark-lifecycle-outbox-'));
  let a: TestApp;
  let b: BulwarkApp;

  beforeAll(async () => {
    const input: ConfigInput = {
      redis: { url: await requireRedis(), keyPrefix: prefix },
      email: { outboxDir: outbox, changeEmailUrl: 'https://app.example.com/change-email' },
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
    rmSync(outbox, { recursive: true, force: true });
  });

  /** B has each session cached as active; `change` runs elsewhere; B refuses them within 1 s. */
  async function expectEndedOnB(sessions: LoggedIn[], change: () => Promise<void>): Promise<void> {
    for (const session of sessions) await expectAccessWorks(b, session.accessToken);
    await change();
    for (const session of sessions) {
      await vi.waitFor(() => expectAccessRefused(b, session.accessToken), {
        timeout: 1_000,
        interval: 20,
      });
    }
  }

  /** The CLI as an operator runs it: its own process's services, on this database and Redis. */
  async function bulwark(args: string[], input?: string): Promise<string> {
    const res = await runCli(args, {
      env: cliDatabaseEnv(a.testDb, {
        BULWARK_KEYS_MASTER_KEY: TEST_MASTER_KEY,
        REDIS_URL: redisUrl!,
        BULWARK_REDIS_KEY_PREFIX: prefix,
      }),
      ...(input === undefined ? {} : { input }),
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    return res.stdout;
  }

  it('MFA turned on, on A: the other sessions end on B, the one that turned it on goes on', async () => {
    const user = await registerAndLogin(a.app);
    const other = await login(a.app, user.email);
    await expectAccessWorks(b, user.accessToken);
    await expectEndedOnB([other], async () => {
      await enrolMfa(a.app, user.accessToken, Date.now());
    });
    await expectAccessWorks(b, user.accessToken);
  });

  it('an address change confirmed on A: the other sessions end on B', async () => {
    const user = await registerAndLogin(a.app);
    const other = await login(a.app, user.email);
    const newEmail = `moved-${user.id}@example.com`;
    await expectEndedOnB([other], async () => {
      const asked = await a.app.inject({
        method: 'POST',
        url: '/api/v1/auth/email/change',
        headers: bearer(user.accessToken),
        payload: { newEmail, password: user.password },
      });
      expect(asked.statusCode, asked.body).toBe(202);
      await a.app.services.accountEmail!.idle();
      const confirmed = await a.app.inject({
        method: 'POST',
        url: '/api/v1/auth/email/change/confirm',
        headers: bearer(user.accessToken),
        payload: { token: lastOutboxToken(outbox, newEmail) },
      });
      expect(confirmed.statusCode, confirmed.body).toBe(204);
    });
    await expectAccessWorks(b, user.accessToken);
  });

  it("an administrator's MFA reset on A: every session of the user ends on B", async () => {
    const admin = await createUserAndLogin(a.app, 'admin');
    const adminFactor = await enrolMfa(a.app, admin.accessToken, Date.now());
    const adminLogin = await loginWith(a.app, admin.email, {
      mfaCode: totpCode(adminFactor.secret, Date.now() + STEP_MS),
    });
    expect(adminLogin.statusCode, adminLogin.body).toBe(200);
    const user = await registerAndLogin(a.app);
    await enrolMfa(a.app, user.accessToken, Date.now());
    await expectEndedOnB([user], async () => {
      const res = await a.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${user.id}/mfa`,
        headers: bearer(adminLogin.json<{ accessToken: string }>().accessToken),
      });
      expect(res.statusCode, res.body).toBe(204);
    });
  });

  it('bulwark user set-password: every session of the user ends on both instances', async () => {
    const user = await registerAndLogin(a.app);
    const other = await login(a.app, user.email);
    await expectAccessWorks(a.app, user.accessToken);
    await expectEndedOnB([user, other], async () => {
      await bulwark(
        ['user', 'set-password', '--email', user.email, '--password-stdin'],
        'a brand new passphrase of yours\n',
      );
    });
    await expectAccessRefused(a.app, user.accessToken);
  });

  it('bulwark user mfa-reset: every session of the user ends on both instances', async () => {
    const user = await registerAndLogin(a.app);
    await enrolMfa(a.app, user.accessToken, Date.now());
    await expectEndedOnB([user], async () => {
      expect(await bulwark(['user', 'mfa-reset', '--email', user.email])).toBe(
        `MFA turned off for ${user.email}\n`,
      );
    });
    await expectAccessRefused(a.app, user.accessToken);
  });

  it('bulwark keys rotate --revoke-old: tokens signed before are refused at once, refresh goes on', async () => {
    const user = await registerAndLogin(a.app);
    await expectEndedOnB([user], async () => {
      await bulwark(['keys', 'rotate', '--revoke-old']);
    });
    const fresh = await refreshOk(b, user.refreshToken);
    await expectAccessWorks(b, fresh.accessToken);
    await vi.waitFor(() => expectAccessWorks(a.app, fresh.accessToken), { timeout: 1_000 });
  });
});
