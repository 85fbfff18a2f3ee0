/*
 * Attacks on TOTP MFA, from security reviews of the feature: throttle accounting of the
 * two-step sign-in, guessing codes with a known password, replay and concurrency, sessions an
 * intruder may hold, key rotation racing a sign-in, refusals that must change nothing, and the
 * administrator's reset (it needs the administrator's own second factor, is audited when
 * refused, and ends even a session whose login was in flight when it landed).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { redactSecrets } from '../../src/http/logger.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { enrolMfa, loginWith, postMfa, STEP_MS, wrongCode as wrongCodeAt } from '../helpers/mfa.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { captureEvents, expectProblem, getMe, postRefresh } from './support.js';

let t: TestApp;
let clock = Date.UTC(2026, 10, 30, 12, 0, 10);

beforeAll(async () => {
  t = await buildTestApp({}, { now: () => clock });
});
afterAll(async () => {
  await t.app.close();
});

type App = TestApp['app'];

async function enrol(
  app: App,
  user: LoggedIn,
  advance = true,
): Promise<{ secret: string; recoveryCodes: string[]; confirmCode: string }> {
  const enrolled = await enrolMfa(app, user.accessToken, clock);
  if (advance) clock += STEP_MS;
  return enrolled;
}

function wrongCode(secret: string): string {
  return wrongCodeAt(secret, clock);
}

/** An administrator whose session showed a second factor, as the reset route requires. */
async function mfaAdmin(): Promise<LoggedIn> {
  const admin = await createUserAndLogin(t.app, 'admin');
  const { secret } = await enrol(t.app, admin);
  const res = await loginWith(t.app, admin.email, { mfaCode: totpCode(secret, clock) });
  expect(res.statusCode, res.body).toBe(200);
  clock += STEP_MS;
  return { ...admin, accessToken: res.json<{ accessToken: string }>().accessToken };
}

/** DELETE /api/v1/users/:id/mfa, the administrator's reset. */
function resetMfa(id: string, accessToken: string) {
  return t.app.inject({
    method: 'DELETE',
    url: `/api/v1/users/${id}/mfa`,
    headers: bearer(accessToken),
  });
}

/** GET /api/v1/auth/mfa: whether MFA is on, and the recovery codes left. */
async function mfaStatus(accessToken: string): Promise<unknown> {
  const res = await t.app.inject({
    method: 'GET',
    url: '/api/v1/auth/mfa',
    headers: bearer(accessToken),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

describe('throttle accounting of the two-step MFA login', () => {
  it('successful MFA logins from one client do not use up the client failure budget', async () => {
    const app = await buildTestApp(
      { rateLimit: { login: { clientFailures: 3 } } },
      { now: () => clock },
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const user = await registerAndLogin(app.app);
        const { secret } = await enrol(app.app, user);
        // The documented flow: email+password, 401 mfa_required, then again with the code.
        expectProblem(await loginWith(app.app, user.email), 401, 'mfa_required');
        const ok = await loginWith(app.app, user.email, { mfaCode: totpCode(secret, clock) });
        statuses.push(ok.statusCode);
        clock += STEP_MS;
      }
      // Three users, three correct logins, zero wrong passwords or codes.
      expect(statuses).toEqual([200, 200, 200]);
    } finally {
      await app.app.close();
    }
  });

  it('successful MFA logins of one account do not slow that account down', async () => {
    const app = await buildTestApp(
      { rateLimit: { login: { accountFreeFailures: 2 } } },
      { now: () => clock },
    );
    try {
      const user = await registerAndLogin(app.app);
      const { secret } = await enrol(app.app, user);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await loginWith(app.app, user.email)).statusCode); // 401 mfa_required
        const ok = await loginWith(app.app, user.email, { mfaCode: totpCode(secret, clock) });
        statuses.push(ok.statusCode);
        clock += STEP_MS;
      }
      expect(statuses).toEqual([401, 200, 401, 200, 401, 200]);
    } finally {
      await app.app.close();
    }
  });

  it('limits wrong codes per account across clients; only a right code clears the count', async () => {
    const app = await buildTestApp(
      { rateLimit: { login: { mfaFailures: 3 } } },
      { now: () => clock },
    );
    try {
      const user = await registerAndLogin(app.app);
      const { secret } = await enrol(app.app, user);
      const events = captureEvents(app.app);
      const from = (ip: string, mfaCode: string) =>
        app.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: ip,
          payload: { email: user.email, password: STRONG_PASSWORD, mfaCode },
        });
      expectProblem(await from('10.0.0.1', wrongCode(secret)), 401, 'invalid_otp');
      expectProblem(await from('10.0.0.2', wrongCode(secret)), 401, 'invalid_otp');
      expect((await from('10.0.0.3', totpCode(secret, clock))).statusCode).toBe(200);
      clock += STEP_MS;
      for (const ip of ['10.0.0.4', '10.0.0.5', '10.0.0.6']) {
        expectProblem(await from(ip, wrongCode(secret)), 401, 'invalid_otp');
      }
      // A password check that succeeds (here a change refused as weak) clears nothing of it.
      const change = await app.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: bearer(user.accessToken),
        payload: { currentPassword: STRONG_PASSWORD, newPassword: 'aaaaaaaaaaaaaaaa' },
      });
      expect(change.json()).toMatchObject({ code: 'weak_password' });
      // Now even the right code waits: the account's codes are being guessed.
      const limited = await from('10.0.0.7', totpCode(secret, clock));
      expectProblem(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expectProblem(
        await postMfa(app.app, '/disable', user.accessToken, {
          password: STRONG_PASSWORD,
          mfaCode: totpCode(secret, clock),
        }),
        429,
        'rate_limited',
      );
      const throttled = events.filter((e) => e.type === 'login.throttled');
      expect(throttled.at(-1)).toMatchObject({
        target: { type: 'user', id: user.id },
        details: { scope: 'account_mfa' },
      });
    } finally {
      await app.app.close();
    }
  });

  /** An app allowing 3 wrong codes per account, and a user whose enrolment has started. */
  async function pendingEnrolment() {
    const app = await buildTestApp(
      { rateLimit: { login: { mfaFailures: 3 } } },
      { now: () => clock },
    );
    const user = await registerAndLogin(app.app);
    const setup = await postMfa(app.app, '/totp/setup', user.accessToken, {
      password: STRONG_PASSWORD,
    });
    expect(setup.statusCode, setup.body).toBe(200);
    const { secret } = setup.json<{ secret: string }>();
    const confirm = (mfaCode: string) =>
      postMfa(app.app, '/totp/confirm', user.accessToken, { mfaCode });
    return { app: app.app, user, secret, confirm };
  }

  it('wrong codes confirming an enrolment count on the same limit: a stolen token cannot guess on', async () => {
    // The owner started the enrolment; whoever holds the access token tries codes.
    const { app, user, secret, confirm } = await pendingEnrolment();
    try {
      const events = captureEvents(app);
      for (let i = 0; i < 3; i++) {
        expectProblem(await confirm(wrongCode(secret)), 401, 'invalid_otp');
      }
      // Even the right code now waits, and nothing was turned on.
      const limited = await confirm(totpCode(secret, clock));
      expectProblem(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(events.filter((e) => e.type === 'login.throttled').at(-1)).toMatchObject({
        target: { type: 'user', id: user.id },
        details: { scope: 'account_mfa' },
      });
      const status = await app.inject({
        method: 'GET',
        url: '/api/v1/auth/mfa',
        headers: bearer(user.accessToken),
      });
      expect(status.json()).toMatchObject({ enabled: false });
    } finally {
      await app.close();
    }
  });

  it('a right confirmation code clears the wrong ones before it', async () => {
    const { app, user, secret, confirm } = await pendingEnrolment();
    try {
      for (let i = 0; i < 2; i++) {
        expectProblem(await confirm(wrongCode(secret)), 401, 'invalid_otp');
      }
      const ok = await confirm(totpCode(secret, clock));
      expect(ok.statusCode, ok.body).toBe(200);
      clock += STEP_MS;
      // Had the two wrong codes stayed counted, one more at sign-in would reach the limit and
      // the right code after it would wait.
      const from = (mfaCode: string) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: user.email, password: STRONG_PASSWORD, mfaCode },
        });
      expectProblem(await from(wrongCode(secret)), 401, 'invalid_otp');
      expect((await from(totpCode(secret, clock))).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('a sign-in without a code, repeated, costs nothing but does not clear wrong codes', async () => {
    const app = await buildTestApp(
      { rateLimit: { login: { accountClientFailures: 3 } } },
      { now: () => clock },
    );
    try {
      const user = await registerAndLogin(app.app);
      const { secret } = await enrol(app.app, user);
      const answers: number[] = [];
      for (let i = 0; i < 4; i++) {
        answers.push((await loginWith(app.app, user.email)).statusCode);
        answers.push(
          (await loginWith(app.app, user.email, { mfaCode: wrongCode(secret) })).statusCode,
        );
      }
      // The code-less steps are refunded (unrefunded, the fourth request would be refused) and
      // clear nothing (clearing, none would be): after three wrong codes the next request waits.
      expect(answers).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);
    } finally {
      await app.app.close();
    }
  });
});

describe('replay and concurrency', () => {
  it('the code that confirmed enrolment does not sign in again in its step', async () => {
    const user = await registerAndLogin(t.app);
    const { confirmCode } = await enrol(t.app, user, false);
    expectProblem(await loginWith(t.app, user.email, { mfaCode: confirmCode }), 401, 'invalid_otp');
    clock += STEP_MS;
  });

  it('of concurrent logins with one TOTP code, exactly one gets tokens', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrol(t.app, user);
    const code = totpCode(secret, clock);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => loginWith(t.app, user.email, { mfaCode: code })),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401, 401, 401, 401, 401]);
    clock += STEP_MS;
  });

  it('of concurrent logins with one recovery code, exactly one gets tokens', async () => {
    const user = await registerAndLogin(t.app);
    const { recoveryCodes } = await enrol(t.app, user);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => loginWith(t.app, user.email, { mfaCode: recoveryCodes[0] })),
    );
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401, 401, 401, 401, 401]);
  });

  it('MFA turned on while a login checks the password: 401 mfa_required, and no session left', async () => {
    const user = await registerAndLogin(t.app);
    const setup = await postMfa(t.app, '/totp/setup', user.accessToken, {
      password: STRONG_PASSWORD,
    });
    const { secret } = setup.json<{ secret: string }>();
    const hasher = t.app.services.hasher;
    const verify = hasher.verify.bind(hasher);
    const spy = vi.spyOn(hasher, 'verify').mockImplementationOnce(async (hash, password) => {
      const result = await verify(hash, password);
      const confirm = await postMfa(t.app, '/totp/confirm', user.accessToken, {
        mfaCode: totpCode(secret, clock),
      });
      expect(confirm.statusCode, confirm.body).toBe(200);
      return result;
    });
    try {
      const events = captureEvents(t.app);
      expectProblem(await loginWith(t.app, user.email), 401, 'mfa_required');
      const sessions = await t.app.services.sessions.listActive(user.id);
      expect(sessions.map((s) => s.id)).toEqual([user.sessionId]);
      expect(events.some((e) => e.type === 'login.succeeded')).toBe(false);
    } finally {
      spy.mockRestore();
      clock += STEP_MS;
    }
  });
});

describe('refusals the feature tests leave open', () => {
  it('new recovery codes: wrong password, wrong code, used code, extra field; codes unchanged', async () => {
    const user = await registerAndLogin(t.app);
    const { secret, recoveryCodes } = await enrol(t.app, user);
    const events = captureEvents(t.app);
    expectProblem(
      await postMfa(t.app, '/recovery-codes', user.accessToken, {
        password: 'wrong password here',
        mfaCode: totpCode(secret, clock),
      }),
      401,
      'invalid_credentials',
    );
    expectProblem(
      await postMfa(t.app, '/recovery-codes', user.accessToken, {
        password: STRONG_PASSWORD,
        mfaCode: wrongCode(secret),
      }),
      401,
      'invalid_otp',
    );
    expectProblem(
      await postMfa(t.app, '/recovery-codes', user.accessToken, {
        password: STRONG_PASSWORD,
        mfaCode: totpCode(secret, clock),
        extra: 1,
      }),
      400,
      'validation_failed',
    );
    // A wrong password never spends the recovery code it came with.
    expectProblem(
      await postMfa(t.app, '/disable', user.accessToken, {
        password: 'wrong password here',
        mfaCode: recoveryCodes[0],
      }),
      401,
      'invalid_credentials',
    );
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/mfa',
      headers: bearer(user.accessToken),
    });
    expect(status.json()).toEqual({ enabled: true, recoveryCodesRemaining: 10 });
    expect(
      events
        .filter((e) => e.type === 'mfa.recovery_codes_regenerated')
        .map((e) => [e.outcome, e.details?.reason]),
    ).toEqual([
      ['failure', 'wrong_password'],
      ['failure', 'wrong_mfa_code'],
    ]);
    // A recovery code used at login cannot regenerate the set afterwards.
    expect((await loginWith(t.app, user.email, { mfaCode: recoveryCodes[1] })).statusCode).toBe(
      200,
    );
    expectProblem(
      await postMfa(t.app, '/recovery-codes', user.accessToken, {
        password: STRONG_PASSWORD,
        mfaCode: recoveryCodes[1]!,
      }),
      401,
      'invalid_otp',
    );
  });

  it('a wrong password answers invalid_credentials, not mfa_required, whatever the code', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(t.app, user);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: 'wrong password here' },
    });
    expectProblem(res, 401, 'invalid_credentials');
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'nobody-mfa@example.com', password: STRONG_PASSWORD, mfaCode: '123456' },
    });
    expectProblem(unknown, 401, 'invalid_credentials');
  });

  it('turning MFA on ends the other sessions (as a password change does), not this one', async () => {
    const user = await registerAndLogin(t.app);
    // An older session, e.g. one an attacker holds, the reason the owner turns MFA on.
    const other = await loginWith(t.app, user.email);
    const { refreshToken, accessToken } = other.json<{
      refreshToken: string;
      accessToken: string;
    }>();
    await enrol(t.app, user);
    expect((await getMe(t.app, accessToken)).statusCode).toBe(401);
    expect((await postRefresh(t.app, refreshToken)).statusCode).toBe(401);
    expect((await getMe(t.app, user.accessToken)).statusCode).toBe(200);
  });

  it('DELETE /users/:id/mfa: an administrator turns MFA off for another user, and only that', async () => {
    // The administrator's own session shows a second factor (app.requireMfa on the route).
    const admin = await mfaAdmin();
    const user = await registerAndLogin(t.app);
    await enrol(t.app, user);
    const reset = (id: string, token = admin.accessToken) => resetMfa(id, token);
    const events = captureEvents(t.app);
    expectProblem(await reset(user.id, user.accessToken), 403, 'forbidden');
    expectProblem(await reset(admin.id), 403, 'forbidden');
    expectProblem(await reset(crypto.randomUUID()), 404, 'not_found');
    const res = await reset(user.id);
    expect(res.statusCode, res.body).toBe(204);
    expectProblem(await reset(user.id), 409, 'mfa_not_enabled');
    expect((await getMe(t.app, user.accessToken)).statusCode).toBe(401);
    expect((await loginWith(t.app, user.email)).statusCode).toBe(200);
    expect(events.find((e) => e.type === 'mfa.disabled')).toMatchObject({
      actorId: admin.id,
      target: { type: 'user', id: user.id },
      details: { by: 'admin_reset' },
    });
  });

  it('an administrator reset ends every session of the user', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(t.app, user);
    expect(await t.app.services.mfa.reset(user.id, { actorId: null })).toBe(true);
    expect((await getMe(t.app, user.accessToken)).statusCode).toBe(401);
    expect((await postRefresh(t.app, user.refreshToken)).statusCode).toBe(401);
  });

  it('log redaction covers MFA codes and recovery codes', () => {
    const redacted = JSON.stringify(
      redactSecrets({ body: { mfaCode: '123456', recoveryCodes: ['abcd-efgh-jkmn'] } }),
    );
    expect(redacted).not.toContain('123456');
    expect(redacted).not.toContain('abcd-efgh-jkmn');
  });
});

describe('key rotation', () => {
  it('a right code is not refused as "replayed" because keys reencrypt rewrote the envelope meanwhile', async () => {
    const { FieldCipher } = await import('../../src/crypto/index.js');
    const { ENCRYPTED_COLUMNS, fieldContext } = await import('../../src/db/index.js');
    const user = await registerAndLogin(t.app);
    const { secret } = await enrol(t.app, user);
    const cipher = new FieldCipher(t.app.services.keyring, ENCRYPTED_COLUMNS.totpSecret.purpose);
    const repo = (
      t.app.services.mfa as unknown as {
        deps: { repo: { findFactor: (id: string) => Promise<unknown> } };
      }
    ).deps.repo;
    const find = repo.findFactor.bind(repo);
    // What `bulwark keys reencrypt` does to a row between the login's read and its useStep:
    // the same secret in a new envelope (compare-and-set on the old value).
    const spy = vi.spyOn(repo, 'findFactor').mockImplementationOnce(async (id: string) => {
      const row = await find(id);
      await t.app.services.db.kysely
        .updateTable('totp_factors')
        .set({ secret_enc: cipher.encrypt(secret, fieldContext(ENCRYPTED_COLUMNS.totpSecret, id)) })
        .where('user_id', '=', id)
        .execute();
      return row;
    });
    try {
      const res = await loginWith(t.app, user.email, { mfaCode: totpCode(secret, clock) });
      expect(res.statusCode, res.body).toBe(200);
    } finally {
      spy.mockRestore();
      clock += STEP_MS;
    }
  });

  it('an enrolment is confirmed although keys reencrypt rewrote its pending envelope meanwhile', async () => {
    const { FieldCipher } = await import('../../src/crypto/index.js');
    const { ENCRYPTED_COLUMNS, EncryptedColumnsRepository, fieldContext } =
      await import('../../src/db/index.js');
    const column = ENCRYPTED_COLUMNS.totpSecret;
    const user = await registerAndLogin(t.app);
    const setup = await postMfa(t.app, '/totp/setup', user.accessToken, {
      password: STRONG_PASSWORD,
    });
    expect(setup.statusCode, setup.body).toBe(200);
    const { secret } = setup.json<{ secret: string }>();
    const cipher = new FieldCipher(t.app.services.keyring, column.purpose);
    const repo = (
      t.app.services.mfa as unknown as {
        deps: { repo: { findFactor: (id: string) => Promise<{ secret_enc: string } | undefined> } };
      }
    ).deps.repo;
    const find = repo.findFactor.bind(repo);
    // What `bulwark keys reencrypt` does between the confirmation's read and its write: the same
    // secret in a new envelope, written by its compare-and-set over the envelope it read.
    const spy = vi.spyOn(repo, 'findFactor').mockImplementationOnce(async (id: string) => {
      const row = await find(id);
      const updated = await new EncryptedColumnsRepository(t.app.services.db.kysely).compareAndSet(
        column,
        [
          {
            id,
            expected: row!.secret_enc,
            value: cipher.encrypt(secret, fieldContext(column, id)),
          },
        ],
      );
      expect(updated.has(id)).toBe(true);
      return row;
    });
    try {
      const res = await postMfa(t.app, '/totp/confirm', user.accessToken, {
        mfaCode: totpCode(secret, clock),
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json<{ recoveryCodes: string[] }>().recoveryCodes).toHaveLength(10);
    } finally {
      spy.mockRestore();
      clock += STEP_MS;
    }
    expect(await mfaStatus(user.accessToken)).toEqual({
      enabled: true,
      recoveryCodesRemaining: 10,
    });
  });

  it('an enrolment restarted meanwhile is not confirmed by a code of the old secret', async () => {
    const user = await registerAndLogin(t.app);
    const first = await postMfa(t.app, '/totp/setup', user.accessToken, {
      password: STRONG_PASSWORD,
    });
    const { secret } = first.json<{ secret: string }>();
    const repo = (
      t.app.services.mfa as unknown as {
        deps: { repo: { findFactor: (id: string) => Promise<unknown> } };
      }
    ).deps.repo;
    const find = repo.findFactor.bind(repo);
    // A second setup (another tab) lands between the confirmation's read and its write, in the
    // same millisecond of the app's clock: a new secret under the same created_at.
    const spy = vi.spyOn(repo, 'findFactor').mockImplementationOnce(async (id: string) => {
      const row = await find(id);
      const again = await postMfa(t.app, '/totp/setup', user.accessToken, {
        password: STRONG_PASSWORD,
      });
      expect(again.statusCode, again.body).toBe(200);
      return row;
    });
    try {
      expectProblem(
        await postMfa(t.app, '/totp/confirm', user.accessToken, {
          mfaCode: totpCode(secret, clock),
        }),
        409,
        'conflict',
      );
    } finally {
      spy.mockRestore();
      clock += STEP_MS;
    }
    expect(await mfaStatus(user.accessToken)).toEqual({
      enabled: false,
      recoveryCodesRemaining: 0,
    });
  });
});

describe('DELETE /api/v1/users/:id/mfa, races and amr', () => {
  it('needs a session that showed a second factor (step-up), not a bare admin token', async () => {
    // An administrator's password-only session (amr ["pwd"]): a stolen or phished admin token.
    const admin = await createUserAndLogin(t.app, 'admin');
    expect(jwtPayload(admin.accessToken).amr).toEqual(['pwd']);
    const victim = await createUserAndLogin(t.app, 'admin');
    await enrol(t.app, victim);
    const res = await resetMfa(victim.id, admin.accessToken);
    // app.requireMfa: a stolen or phished administrator token cannot strip MFA from others.
    expectProblem(res, 401, 'insufficient_user_authentication');
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_user_authentication"/);
  });

  it('an administrator refused a reset of their own MFA is an access.denied event', async () => {
    const admin = await mfaAdmin();
    const events = captureEvents(t.app);
    expectProblem(await resetMfa(admin.id, admin.accessToken), 403, 'forbidden');
    // Like every other 403 of the API (authorize, not_owner 404s), it is recorded.
    const denied = events.filter((e) => e.type === 'access.denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({
      actorId: admin.id,
      details: { reason: 'own_account', status: 403 },
    });
  });

  it('a login in flight when the reset lands does not keep an "mfa" session', async () => {
    const admin = await mfaAdmin();
    const user = await registerAndLogin(t.app);
    const { secret } = await enrol(t.app, user);
    // Hold the login right after its second factor was accepted, and reset MFA meanwhile.
    const mfa = t.app.services.mfa;
    const check = mfa.checkSecondFactor.bind(mfa);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let checked!: () => void;
    const passed = new Promise<void>((r) => (checked = r));
    mfa.checkSecondFactor = async (...args) => {
      const result = await check(...args);
      checked();
      await gate;
      return result;
    };
    try {
      const login = t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: STRONG_PASSWORD, mfaCode: totpCode(secret, clock) },
      });
      await passed;
      expect((await resetMfa(user.id, admin.accessToken)).statusCode).toBe(204);
      release();
      const res = await login;
      // The reset ends "every session of the user": one started from the lost factor, after the
      // reset, is ended too, and its login refused, like the MFA-turned-on race.
      expectProblem(res, 401, 'invalid_otp');
      expect(await t.app.services.sessions.listActive(user.id)).toEqual([]);
    } finally {
      mfa.checkSecondFactor = check;
      clock += STEP_MS;
    }
  });
});

describe('the amr of sessions started before MFA', () => {
  it('a refresh after MFA is turned on keeps ["pwd"], and the step-up route refuses it', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(t.app, user);
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: user.refreshToken },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const accessToken = refreshed.json<{ accessToken: string }>().accessToken;
    expect(jwtPayload(accessToken).amr).toEqual(['pwd']);
    const stepUp = await t.app.inject({
      method: 'GET',
      url: '/api/v1/examples/step-up',
      headers: bearer(accessToken),
    });
    expectProblem(stepUp, 401, 'insufficient_user_authentication');
  });
});
