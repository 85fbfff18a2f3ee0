/*
 * Account lifecycle × writes in flight: each write made on a session's say-so that takes time
 * (a password check, a code check, a hash, the role lock) is started, the session it was made on
 * is ended by another real request (its owner ending it from another device, a logout
 * everywhere, an administrator disabling the account), and only then is the write let go. It
 * must be refused (401 invalid_token) and change nothing; the same write from a session that is
 * still open must work. The spies and holds only order the two requests. The password change,
 * MFA enrolment and address change are in lifecycle-matrix.test.ts and
 * lifecycle-matrix-links.test.ts; an administrator's writes and deleting one's own account in
 * lifecycle-matrix-inflight-admin.test.ts; a session ended while the write's own statement runs
 * in lifecycle-matrix-inflight-locked.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { MfaRepository } from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, postMfa, STEP_MS } from '../helpers/mfa.js';
import { captureEvents, expectAccessWorks, expectProblem, setDisabled } from '../auth/support.js';
import {
  afterPasswordCheck,
  endedFailures,
  endFromList,
  pauseNextEndAll,
} from './inflight-support.js';

describe("one's own MFA, and an administrator's MFA reset, from a session that ends meanwhile", () => {
  // The app's clock: TOTP codes work once per 30-second step, so the tests move it on by steps.
  let clock = Date.now();
  let t: TestApp;
  let events: RecordedSecurityEvent[];

  beforeAll(async () => {
    t = await buildTestApp({}, { now: () => clock });
    events = captureEvents(t.app);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await t.app.close();
  });

  /**
   * A user (registered, or made with `role`) with MFA on, its authenticator, and a second session
   * signed in with a code.
   */
  async function withMfa(role?: string): Promise<{
    owner: LoggedIn;
    other: LoggedIn;
    secret: string;
    recoveryCodes: string[];
  }> {
    const owner = role ? await createUserAndLogin(t.app, role) : await registerAndLogin(t.app);
    const { secret, recoveryCodes } = await enrolMfa(t.app, owner.accessToken, clock);
    clock += STEP_MS;
    const res = await loginWith(t.app, owner.email, { mfaCode: totpCode(secret, clock) });
    expect(res.statusCode, res.body).toBe(200);
    clock += STEP_MS;
    const pair = res.json<{ accessToken: string; refreshToken: string }>();
    const other: LoggedIn = {
      ...pair,
      id: owner.id,
      email: owner.email,
      password: STRONG_PASSWORD,
      sessionId: jwtPayload(pair.accessToken).sid as string,
    };
    return { owner, other, secret, recoveryCodes };
  }

  async function mfaStatus(accessToken: string) {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/mfa',
      headers: bearer(accessToken),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ enabled: boolean; recoveryCodesRemaining: number }>();
  }

  it('turning MFA off (POST /auth/mfa/disable) is refused: the factor stays', async () => {
    const { owner, other, secret } = await withMfa();
    const res = await afterPasswordCheck(
      t,
      () =>
        postMfa(t.app, '/disable', other.accessToken, {
          password: STRONG_PASSWORD,
          mfaCode: totpCode(secret, clock),
        }),
      () => endFromList(t, owner, other),
    );
    clock += STEP_MS;
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'mfa.disabled')).toHaveLength(1);
    expect(await mfaStatus(owner.accessToken)).toEqual({
      enabled: true,
      recoveryCodesRemaining: 10,
    });
    // The password alone does not sign in: the factor is still asked for.
    expectProblem(await loginWith(t.app, owner.email), 401, 'mfa_required');

    // From a session still open, the same request turns it off.
    const off = await postMfa(t.app, '/disable', owner.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(secret, clock),
    });
    clock += STEP_MS;
    expect(off.statusCode, off.body).toBe(204);
    expect(await mfaStatus(owner.accessToken)).toEqual({
      enabled: false,
      recoveryCodesRemaining: 0,
    });
  });

  it('new recovery codes (POST /auth/mfa/recovery-codes) are refused: the old ones stay', async () => {
    const { owner, other, secret, recoveryCodes } = await withMfa();
    const res = await afterPasswordCheck(
      t,
      () =>
        postMfa(t.app, '/recovery-codes', other.accessToken, {
          password: STRONG_PASSWORD,
          mfaCode: totpCode(secret, clock),
        }),
      () => endFromList(t, owner, other),
    );
    clock += STEP_MS;
    expectProblem(res, 401, 'invalid_token');
    expect(res.body).not.toContain('recoveryCodes');
    expect(endedFailures(events, 'mfa.recovery_codes_regenerated')).toHaveLength(1);
    // The owner's codes still work: one signs in.
    const signIn = await loginWith(t.app, owner.email, { mfaCode: recoveryCodes[0] });
    expect(signIn.statusCode, signIn.body).toBe(200);

    const fresh = await postMfa(t.app, '/recovery-codes', owner.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(secret, clock),
    });
    clock += STEP_MS;
    expect(fresh.statusCode, fresh.body).toBe(200);
    expectProblem(
      await loginWith(t.app, owner.email, { mfaCode: recoveryCodes[1] }),
      401,
      'invalid_otp',
    );
  });

  it("an administrator's reset (DELETE /users/:id/mfa) is refused once the administrator is disabled", async () => {
    // The administrator's session showed a second factor, as the route requires.
    const admin = await withMfa('admin');
    const other = await createUserAndLogin(t.app, 'admin');
    const user = await withMfa();
    // The same tables through a repository of its own: the spy replaces the app's method.
    const repo = new MfaRepository(t.app.services.db.kysely);
    vi.spyOn(MfaRepository.prototype, 'remove').mockImplementationOnce(async (...args) => {
      await setDisabled(t.app, other.accessToken, admin.owner.id, true);
      return repo.remove(...args);
    });
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.owner.id}/mfa`,
      headers: bearer(admin.other.accessToken),
    });
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'mfa.disabled')).toContainEqual(
      expect.objectContaining({
        actorId: admin.owner.id,
        details: expect.objectContaining({ by: 'admin_reset' }),
      }),
    );
    // The user's factor and sessions are as they were.
    await expectAccessWorks(t.app, user.owner.accessToken);
    expect(await mfaStatus(user.owner.accessToken)).toEqual({
      enabled: true,
      recoveryCodesRemaining: 10,
    });
  });

  it('an enrolment confirmed between the disabling of its account and the end of its sessions is refused', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const owner = await registerAndLogin(t.app);
    const setup = await postMfa(t.app, '/totp/setup', owner.accessToken, {
      password: STRONG_PASSWORD,
    });
    expect(setup.statusCode, setup.body).toBe(200);
    const { secret } = setup.json<{ secret: string }>();
    // The administrator's disabling is committed, and its request held just before it ends the
    // account's sessions: the confirming session is still open, the account no longer enabled.
    const { reached, release } = pauseNextEndAll(t);
    const disabling = t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${owner.id}`,
      headers: bearer(admin.accessToken),
      payload: { disabled: true },
    });
    await reached;
    try {
      const res = await postMfa(t.app, '/totp/confirm', owner.accessToken, {
        mfaCode: totpCode(secret, clock),
      });
      expectProblem(res, 401, 'invalid_token');
    } finally {
      release();
    }
    expect((await disabling).statusCode).toBe(200);
    expect(endedFailures(events, 'mfa.enabled')).toContainEqual(
      expect.objectContaining({ actorId: owner.id }),
    );
    // MFA stayed off: enabled again, the account signs in with the password alone.
    expect((await t.app.services.usersRepo.findById(owner.id))?.mfa_enabled).toBe(0);
    await setDisabled(t.app, admin.accessToken, owner.id, false);
    const again = await loginWith(t.app, owner.email, {});
    expect(again.statusCode, again.body).toBe(200);
  });
});
