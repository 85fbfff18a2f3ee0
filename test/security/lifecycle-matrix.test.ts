/*
 * Account lifecycle × credentials: the cells of the lifecycle matrix (findings-lifecycle.md) that
 * the feature tests leave open. Each test makes a state change the way a user or an operator
 * does (HTTP, or the CLI), then tries every credential issued before it. The e-mailed links are
 * in lifecycle-matrix-links.test.ts, the provider sign-ins in lifecycle-matrix-oidc.test.ts, and
 * the other instances (Redis) in lifecycle-matrix-instances.test.ts.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { MfaRepository } from '../../src/db/index.js';
import { buildTestApp, TEST_MASTER_KEY, type TestApp } from '../helpers/app.js';
import { cliDatabaseEnv, runCli } from '../helpers/cli.js';
import { holdNextPasswordHash } from '../helpers/hold-password-check.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, postMfa, STEP_MS } from '../helpers/mfa.js';
import {
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  getMe,
  refreshOk,
} from '../auth/support.js';

/** The token pair of a login that must succeed. */
function pairOf(res: { statusCode: number; body: string; json: <T>() => T }): {
  accessToken: string;
  refreshToken: string;
} {
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ accessToken: string; refreshToken: string }>();
}

describe('MFA turned off (by its owner, or reset by an administrator) and on again', () => {
  // The app's clock: TOTP codes work once per 30-second step, so the tests move it on by steps.
  let clock = Date.now();
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({}, { now: () => clock });
  });
  afterAll(async () => {
    await t.app.close();
  });

  /** Turns MFA on for `user` and moves the clock past the step of the confirming code. */
  async function enrol(user: LoggedIn): Promise<{ secret: string; recoveryCodes: string[] }> {
    const enrolled = await enrolMfa(t.app, user.accessToken, clock);
    clock += STEP_MS;
    return enrolled;
  }

  /** A sign-in with a code that must succeed; the clock moves past its step. */
  async function signInWith(email: string, mfaCode: string): Promise<LoggedIn> {
    const pair = pairOf(await loginWith(t.app, email, { mfaCode }));
    clock += STEP_MS;
    return {
      ...pair,
      id: jwtPayload(pair.accessToken).sub as string,
      email,
      password: STRONG_PASSWORD,
      sessionId: jwtPayload(pair.accessToken).sid as string,
    };
  }

  it('by its owner: the first authenticator and its recovery codes stay dead after re-enrolment', async () => {
    const user = await registerAndLogin(t.app);
    const first = await enrol(user);
    const off = await postMfa(t.app, '/disable', user.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(first.secret, clock),
    });
    expect(off.statusCode, off.body).toBe(204);
    clock += STEP_MS;
    await enrol(user);

    for (const mfaCode of [first.recoveryCodes[0]!, totpCode(first.secret, clock)]) {
      expectProblem(await loginWith(t.app, user.email, { mfaCode }), 401, 'invalid_otp');
    }
  });

  it('by an administrator: every session ends, and the old factor stays dead after re-enrolment', async () => {
    // The administrator's own session showed a second factor, as DELETE /users/:id/mfa requires.
    const admin = await createUserAndLogin(t.app, 'admin');
    const adminFactor = await enrol(admin);
    const adminMfa = await signInWith(admin.email, totpCode(adminFactor.secret, clock));

    const user = await registerAndLogin(t.app);
    const first = await enrol(user);
    // A second session, signed in with a recovery code: the device may be the lost one.
    const other = await signInWith(user.email, first.recoveryCodes[0]!);
    const reset = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}/mfa`,
      headers: bearer(adminMfa.accessToken),
    });
    expect(reset.statusCode, reset.body).toBe(204);
    for (const session of [user, other]) {
      await expectAccessRefused(t.app, session.accessToken);
      await expectRefreshRefused(t.app, session.refreshToken);
    }

    const again = await login(t.app, user.email);
    expect(jwtPayload(again.accessToken).amr).toEqual(['pwd']);
    await enrol(again);
    for (const mfaCode of [first.recoveryCodes[1]!, totpCode(first.secret, clock)]) {
      expectProblem(await loginWith(t.app, user.email, { mfaCode }), 401, 'invalid_otp');
    }
    await expectAccessWorks(t.app, adminMfa.accessToken);
  });
});

describe('what MFA must keep working through other changes', () => {
  let clock = Date.now();
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp({}, { now: () => clock });
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('a password reset keeps the authenticator and the recovery codes (MFA stays on)', async () => {
    const user = await registerAndLogin(t.app);
    const { secret, recoveryCodes } = await enrolMfa(t.app, user.accessToken, clock);
    clock += STEP_MS;
    const newPassword = 'velvet orbit lantern mosaic 93';
    await t.app.services.users.setPassword(user.id, newPassword, {});
    expectProblem(await loginWith(t.app, user.email, {}, newPassword), 401, 'mfa_required');
    pairOf(await loginWith(t.app, user.email, { mfaCode: recoveryCodes[0]! }, newPassword));
    pairOf(await loginWith(t.app, user.email, { mfaCode: totpCode(secret, clock) }, newPassword));
  });

  it('turning MFA off ends no session: the owner proved the password and a code', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrolMfa(t.app, user.accessToken, clock);
    clock += STEP_MS;
    const other = pairOf(await loginWith(t.app, user.email, { mfaCode: totpCode(secret, clock) }));
    clock += STEP_MS;
    const off = await postMfa(t.app, '/disable', user.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(secret, clock),
    });
    expect(off.statusCode, off.body).toBe(204);
    await expectAccessWorks(t.app, user.accessToken);
    await expectAccessWorks(t.app, other.accessToken);
    await refreshOk(t.app, other.refreshToken);
  });
});

describe('MFA turned on from a session that ends meanwhile', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await t.app.close();
  });

  it("is refused: an intruder's authenticator does not lock the owner out", async () => {
    const owner = await registerAndLogin(t.app);
    // An intruder who knows the password starts an enrolment with an authenticator of theirs.
    const intruder = await login(t.app, owner.email);
    const setup = await postMfa(t.app, '/totp/setup', intruder.accessToken, {
      password: STRONG_PASSWORD,
    });
    expect(setup.statusCode, setup.body).toBe(200);
    const { secret } = setup.json<{ secret: string }>();
    // The owner ends the intruder's session from the list while the confirmation is in flight.
    const repo = new MfaRepository(t.app.services.db.kysely);
    vi.spyOn(MfaRepository.prototype, 'confirm').mockImplementationOnce(async (...args) => {
      const end = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/auth/sessions/${intruder.sessionId}`,
        headers: bearer(owner.accessToken),
      });
      expect(end.statusCode, end.body).toBe(204);
      return repo.confirm(...args);
    });
    const res = await postMfa(t.app, '/totp/confirm', intruder.accessToken, {
      mfaCode: totpCode(secret, Date.now()),
    });
    expectProblem(res, 401, 'invalid_token');
    // MFA stays off, the owner's session goes on, and the password alone still signs in.
    await expectAccessWorks(t.app, owner.accessToken);
    expect((await getMe(t.app, owner.accessToken)).json()).toMatchObject({ mfaEnabled: false });
    pairOf(await loginWith(t.app, owner.email));
  });
});

describe('an administrator demoted or promoted (PATCH /users/:id {role})', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('a demoted administrator gets no admin token back from a refresh token issued before', async () => {
    const actor = await createUserAndLogin(t.app, 'admin');
    const demoted = await createUserAndLogin(t.app, 'admin');
    const rotated = await refreshOk(t.app, demoted.refreshToken);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${demoted.id}`,
      headers: bearer(actor.accessToken),
      payload: { role: 'user' },
    });
    expect(res.statusCode, res.body).toBe(200);
    // The current refresh token and the one it replaced: both ended with the session.
    for (const token of [rotated.refreshToken, demoted.refreshToken]) {
      await expectRefreshRefused(t.app, token);
    }
    await expectAccessRefused(t.app, rotated.accessToken);
    const listed = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: bearer(rotated.accessToken),
    });
    expectProblem(listed, 401, 'invalid_token');
  });

  it('a promoted user reaches the admin routes only with a token of a new sign-in', async () => {
    const actor = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(actor.accessToken),
      payload: { role: 'admin' },
    });
    expect(res.statusCode, res.body).toBe(200);
    await expectRefreshRefused(t.app, user.refreshToken);
    const again = await login(t.app, user.email);
    expect(jwtPayload(again.accessToken).role).toBe('admin');
    const listed = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: bearer(again.accessToken),
    });
    expect(listed.statusCode, listed.body).toBe(200);
  });
});

describe('bulwark keys rotate --revoke-old (a leaked signing key)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('refuses every access token signed before, while sessions and refresh tokens go on', async () => {
    const user = await registerAndLogin(t.app);
    const other = await login(t.app, user.email);
    const before = jwtPayload(user.accessToken);
    const res = await runCli(['keys', 'rotate', '--revoke-old'], {
      env: cliDatabaseEnv(t.testDb, { BULWARK_KEYS_MASTER_KEY: TEST_MASTER_KEY }),
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    // Without Redis, the service's own periodic re-read (within a minute) picks the keys up.
    await t.app.services.signingKeys.reload();

    for (const session of [user, other]) await expectAccessRefused(t.app, session.accessToken);
    // "Clients refresh; sessions stay": the refresh token gives a token of the new key.
    const fresh = await refreshOk(t.app, user.refreshToken);
    const header = JSON.parse(
      Buffer.from(fresh.accessToken.split('.')[0]!, 'base64url').toString('utf8'),
    ) as { kid: string };
    expect(res.stdout).toContain(`new kid: ${header.kid}`);
    expect(jwtPayload(fresh.accessToken)).toMatchObject({ sid: before.sid, sub: user.id });
    await expectAccessWorks(t.app, fresh.accessToken);
    const sessions = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      headers: bearer(fresh.accessToken),
    });
    expect(
      sessions
        .json<{ items: { id: string }[] }>()
        .items.map((s) => s.id)
        .sort(),
    ).toEqual([user.sessionId, other.sessionId].sort());
    // And the new token can end its session: logout still works after the rotation.
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(fresh.accessToken),
    });
    expect(out.statusCode, out.body).toBe(204);
    await expectAccessRefused(t.app, fresh.accessToken);
    await refreshOk(t.app, other.refreshToken);
  });
});

describe('a password change in flight when its session ends', () => {
  // What an intruder who knows the password would type; the owner (or an administrator) acts
  // while the new password is being hashed.
  const INTRUDER_PASSWORD = 'copper falcon drizzle meadow 41';
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await t.app.close();
  });

  /** Starts a change from `session`, runs `meanwhile` while its new password is hashed. */
  async function changeWhile(session: LoggedIn, meanwhile: () => Promise<void>) {
    const held = holdNextPasswordHash(t.app);
    let answer: Promise<LightMyRequestResponse>;
    try {
      answer = t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: bearer(session.accessToken),
        payload: { currentPassword: STRONG_PASSWORD, newPassword: INTRUDER_PASSWORD },
      });
      await held.reached;
      await meanwhile();
    } finally {
      held.release();
    }
    return answer;
  }

  async function loginStatus(email: string, password: string): Promise<number> {
    const res = await loginWith(t.app, email, {}, password);
    return res.statusCode;
  }

  it('ended by its owner from another device: the change is refused, the password stays', async () => {
    const owner = await registerAndLogin(t.app);
    const intruder = await login(t.app, owner.email);
    const res = await changeWhile(intruder, async () => {
      const end = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/auth/sessions/${intruder.sessionId}`,
        headers: bearer(owner.accessToken),
      });
      expect(end.statusCode, end.body).toBe(204);
    });
    expectProblem(res, 401, 'invalid_token');
    // The owner's session, which the change would have ended, goes on; the password is theirs.
    await expectAccessWorks(t.app, owner.accessToken);
    expect(await loginStatus(owner.email, INTRUDER_PASSWORD)).toBe(401);
    expect(await loginStatus(owner.email, STRONG_PASSWORD)).toBe(200);
  });

  it('ended by an administrator disabling the account: no password is set on it', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const res = await changeWhile(user, async () => {
      const disable = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: bearer(admin.accessToken),
        payload: { disabled: true },
      });
      expect(disable.statusCode, disable.body).toBe(200);
    });
    expectProblem(res, 401, 'invalid_token');
    const enable = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(admin.accessToken),
      payload: { disabled: false },
    });
    expect(enable.statusCode, enable.body).toBe(200);
    expect(await loginStatus(user.email, INTRUDER_PASSWORD)).toBe(401);
    expect(await loginStatus(user.email, STRONG_PASSWORD)).toBe(200);
  });
});
