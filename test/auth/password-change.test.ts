import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, login, registerAndLogin, STRONG_PASSWORD } from '../helpers/identity.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  fieldErrors,
  postLogin,
  refreshOk,
} from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

const NEW_PASSWORD = 'velvet orbit lantern mosaic 93';

function changePassword(accessToken: string | undefined, payload: Record<string, unknown>) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/password',
    headers: accessToken === undefined ? {} : bearer(accessToken),
    payload,
  });
}

describe('POST /api/v1/auth/password', () => {
  it('answers 204; the old password stops working and the new one logs in', async () => {
    const user = await registerAndLogin(t.app);
    const hashBefore = (await t.app.services.usersRepo.findById(user.id))!.password_hash;
    const res = await changePassword(user.accessToken, {
      currentPassword: STRONG_PASSWORD,
      newPassword: NEW_PASSWORD,
    });
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    expectProblem(await postLogin(t.app, user.email, STRONG_PASSWORD), 401, 'invalid_credentials');
    expect((await postLogin(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
    const row = await t.app.services.usersRepo.findById(user.id);
    expect(row!.password_hash).not.toBe(hashBefore);
    expect(row!.password_hash).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(row)).not.toContain(NEW_PASSWORD);
  });

  it("keeps the caller's session and ends every other one", async () => {
    const caller = await registerAndLogin(t.app);
    const other1 = await login(t.app, caller.email);
    const other2 = await login(t.app, caller.email);
    const bystander = await registerAndLogin(t.app);

    const res = await changePassword(caller.accessToken, {
      currentPassword: STRONG_PASSWORD,
      newPassword: NEW_PASSWORD,
    });
    expect(res.statusCode, res.body).toBe(204);

    await expectAccessWorks(t.app, caller.accessToken);
    const next = await refreshOk(t.app, caller.refreshToken);
    await expectAccessWorks(t.app, next.accessToken);
    for (const other of [other1, other2]) {
      await expectAccessRefused(t.app, other.accessToken);
      await expectRefreshRefused(t.app, other.refreshToken);
      expect((await t.app.services.sessions.find(other.sessionId))?.end_reason).toBe(
        'password_changed',
      );
    }
    await expectAccessWorks(t.app, bystander.accessToken);
  });

  it('emits password.changed and session.ended, never with a password', async () => {
    const user = await registerAndLogin(t.app);
    await login(t.app, user.email);
    const events = captureEvents(t.app);
    await changePassword(user.accessToken, {
      currentPassword: STRONG_PASSWORD,
      newPassword: NEW_PASSWORD,
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'password.changed',
        outcome: 'success',
        actorId: user.id,
        target: { type: 'user', id: user.id },
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        details: { reason: 'password_changed', sessions: 1 },
      }),
    );
    const text = JSON.stringify(events);
    expect(text).not.toContain(STRONG_PASSWORD);
    expect(text).not.toContain(NEW_PASSWORD);
    const log = t.logs.raw.join('\n');
    expect(log).not.toContain(NEW_PASSWORD);
  });

  describe('a wrong current password', () => {
    it('answers 401 invalid_credentials and changes nothing', async () => {
      const user = await registerAndLogin(t.app);
      const other = await login(t.app, user.email);
      const events = captureEvents(t.app);
      const res = await changePassword(user.accessToken, {
        currentPassword: 'definitely not my password 5',
        newPassword: NEW_PASSWORD,
      });
      expectProblem(res, 401, 'invalid_credentials');
      // Not an authentication failure of the bearer: the session itself stays valid.
      expect(res.headers['www-authenticate']).toBeUndefined();
      await expectAccessWorks(t.app, user.accessToken);
      await expectAccessWorks(t.app, other.accessToken);
      expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
      expectProblem(await postLogin(t.app, user.email, NEW_PASSWORD), 401, 'invalid_credentials');
      expect(events).toContainEqual(
        expect.objectContaining({
          type: 'password.changed',
          outcome: 'failure',
          actorId: user.id,
          details: { reason: 'wrong_current_password' },
        }),
      );
    });

    it('is checked before the new password (no policy oracle without the current one)', async () => {
      const user = await registerAndLogin(t.app);
      const res = await changePassword(user.accessToken, {
        currentPassword: 'definitely not my password 5',
        newPassword: 'short',
      });
      expectProblem(res, 401, 'invalid_credentials');
    });
  });

  describe('a weak new password', () => {
    it.each([
      ['short', 'Xy7#kq'],
      ['common', 'password1234'],
      ['the email', 'EMAIL rides again 91'],
      ['the name', 'Gwendolyn Featherstone 77'],
    ])('refuses a new password that is %s with 400 weak_password', async (_label, template) => {
      const tag = randomUUID().slice(0, 8);
      const email = `email${tag}@example.com`;
      const reg = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email, password: STRONG_PASSWORD, name: 'Gwendolyn Featherstone' },
      });
      expect(reg.statusCode, reg.body).toBe(201);
      const user = await login(t.app, email);
      const other = await login(t.app, email);
      const newPassword = template.replace('EMAIL', `email${tag}`);

      const res = await changePassword(user.accessToken, {
        currentPassword: STRONG_PASSWORD,
        newPassword,
      });
      const body = expectProblem(res, 400, 'weak_password');
      const errors = fieldErrors(body);
      expect(errors.length).toBeGreaterThan(0);
      for (const error of errors) {
        expect(error.path).toBe('/body/newPassword');
        expect(error.message).toMatch(/^[a-z]/i);
      }
      expect(res.body).not.toContain(newPassword);
      // Nothing changed: the old password works, other sessions live.
      expect((await postLogin(t.app, email, STRONG_PASSWORD)).statusCode).toBe(200);
      await expectAccessWorks(t.app, other.accessToken);
    });
  });

  it.each([
    ['as typed', STRONG_PASSWORD],
    ['composed differently (NFKC: full-width letters)', STRONG_PASSWORD.replace('a', '\uff41')],
  ])(
    'refuses the current password as the new one (%s) with 400 weak_password, ending nothing',
    async (_label, newPassword) => {
      expect(STRONG_PASSWORD).toContain('a');
      const user = await registerAndLogin(t.app);
      const other = await login(t.app, user.email);
      const hashBefore = (await t.app.services.usersRepo.findById(user.id))!.password_hash;
      const res = await changePassword(user.accessToken, {
        currentPassword: STRONG_PASSWORD,
        newPassword,
      });
      const body = expectProblem(res, 400, 'weak_password');
      expect(fieldErrors(body)).toEqual([
        { path: '/body/newPassword', message: 'must differ from the current password' },
      ]);
      expect((await t.app.services.usersRepo.findById(user.id))!.password_hash).toBe(hashBefore);
      await expectAccessWorks(t.app, other.accessToken);
    },
  );

  describe('validation', () => {
    it.each([
      [{}, ['/body/currentPassword', '/body/newPassword']],
      [{ currentPassword: STRONG_PASSWORD }, ['/body/newPassword']],
      [{ currentPassword: '', newPassword: NEW_PASSWORD }, ['/body/currentPassword']],
      [
        { currentPassword: STRONG_PASSWORD, newPassword: NEW_PASSWORD, userId: randomUUID() },
        ['/body/userId'],
      ],
      [
        { currentPassword: STRONG_PASSWORD, newPassword: NEW_PASSWORD, keepSessions: true },
        ['/body/keepSessions'],
      ],
    ])('rejects %j with 400 validation_failed', async (payload, paths) => {
      const user = await registerAndLogin(t.app);
      const res = await changePassword(user.accessToken, payload);
      const body = expectProblem(res, 400, 'validation_failed');
      expect(
        fieldErrors(body)
          .map((e) => e.path)
          .sort(),
      ).toEqual([...paths].sort());
      expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
    });

    it('answers 401 authentication_required without a bearer', async () => {
      const res = await changePassword(undefined, {
        currentPassword: STRONG_PASSWORD,
        newPassword: NEW_PASSWORD,
      });
      expectProblem(res, 401, 'authentication_required');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
    });

    it('answers 401 invalid_token to the token of an ended session', async () => {
      const user = await registerAndLogin(t.app);
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: bearer(user.accessToken),
      });
      const res = await changePassword(user.accessToken, {
        currentPassword: STRONG_PASSWORD,
        newPassword: NEW_PASSWORD,
      });
      expectProblem(res, 401, 'invalid_token');
      expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
    });
  });
});

describe('guessing the current password with a stolen access token', () => {
  // Only the login throttle's account + client limit is in reach here: 3 failures per window.
  let throttled: TestApp;
  beforeAll(async () => {
    throttled = await buildTestApp({
      rateLimit: { login: { accountClientFailures: 3, accountClientWindowSeconds: 900 } },
    });
  });
  afterAll(async () => {
    await throttled.app.close();
  });

  const change = (accessToken: string, currentPassword: string) =>
    throttled.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: bearer(accessToken),
      payload: { currentPassword, newPassword: NEW_PASSWORD },
    });

  it('is throttled like a login: 429 after the failures a login is allowed, even for the right password', async () => {
    const victim = await registerAndLogin(throttled.app);
    const events = captureEvents(throttled.app);
    for (let i = 0; i < 3; i++) {
      expectProblem(
        await change(victim.accessToken, `wrong guess number ${i}`),
        401,
        'invalid_credentials',
      );
    }
    const limited = await change(victim.accessToken, STRONG_PASSWORD);
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'login.throttled',
        target: { type: 'user', id: victim.id },
        details: expect.objectContaining({ scope: 'account_client' }) as unknown,
      }),
    );
    // The same counters as logins: neither way around the other.
    expectProblem(
      await postLogin(throttled.app, victim.email, STRONG_PASSWORD),
      429,
      'rate_limited',
    );
    expect((await postLogin(throttled.app, victim.email, NEW_PASSWORD)).statusCode).not.toBe(200);
  });

  it('counts failed logins too, and a right current password gives its attempt back', async () => {
    const user = await registerAndLogin(throttled.app);
    for (let i = 0; i < 2; i++) {
      expectProblem(
        await postLogin(throttled.app, user.email, `wrong guess number ${i}`),
        401,
        'invalid_credentials',
      );
    }
    expectProblem(
      await change(user.accessToken, 'wrong guess number 2'),
      401,
      'invalid_credentials',
    );
    expectProblem(await change(user.accessToken, STRONG_PASSWORD), 429, 'rate_limited');

    const fresh = await registerAndLogin(throttled.app);
    expectProblem(
      await change(fresh.accessToken, 'wrong guess number 0'),
      401,
      'invalid_credentials',
    );
    expect((await change(fresh.accessToken, STRONG_PASSWORD)).statusCode).toBe(204);
    // The success cleared the pair's count: three more failures before a 429.
    for (let i = 0; i < 3; i++) {
      expectProblem(
        await postLogin(throttled.app, fresh.email, `wrong guess number ${i}`),
        401,
        'invalid_credentials',
      );
    }
    expectProblem(await postLogin(throttled.app, fresh.email, NEW_PASSWORD), 429, 'rate_limited');
  });
});
