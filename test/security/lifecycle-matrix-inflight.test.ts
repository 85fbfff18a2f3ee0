/*
 * Account lifecycle × writes in flight: each write made on a session's say-so that takes time
 * (a password check, a code check, a hash, the role lock) is started, the session it was made on
 * is ended by another real request (its owner ending it from another device, a logout
 * everywhere, an administrator disabling the account), and only then is the write let go. It
 * must be refused (401 invalid_token) and change nothing; the same write from a session that is
 * still open must work. The spies and holds only order the two requests. The password change,
 * MFA enrolment and address change are in lifecycle-matrix.test.ts and
 * lifecycle-matrix-links.test.ts.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { EmailTokensRepository, MfaRepository, UsersRepository } from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { Sessions } from '../../src/tokens/sessions.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { holdNextPasswordCheck, holdNextPasswordHash } from '../helpers/hold-password-check.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, postMfa, STEP_MS } from '../helpers/mfa.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  getMe,
  setDisabled,
} from '../auth/support.js';

/** The failure events of `type` with reason `session_ended` recorded so far. */
function endedFailures(events: RecordedSecurityEvent[], type: string): RecordedSecurityEvent[] {
  return events.filter(
    (e) => e.type === type && e.outcome === 'failure' && e.details?.reason === 'session_ended',
  );
}

/** Ends session `victim` from `owner`, another session of the same account (the session list). */
async function endFromList(t: TestApp, owner: LoggedIn, victim: LoggedIn): Promise<void> {
  const end = await t.app.inject({
    method: 'DELETE',
    url: `/api/v1/auth/sessions/${victim.sessionId}`,
    headers: bearer(owner.accessToken),
  });
  expect(end.statusCode, end.body).toBe(204);
}

/**
 * Runs `request` and, once it has checked the password, `meanwhile`; then lets it go on. Returns
 * its answer.
 */
async function afterPasswordCheck(
  t: TestApp,
  request: () => Promise<LightMyRequestResponse>,
  meanwhile: () => Promise<void>,
): Promise<LightMyRequestResponse> {
  const held = holdNextPasswordCheck(t.app);
  let answer: Promise<LightMyRequestResponse>;
  try {
    answer = request();
    await held.checking;
    await meanwhile();
  } finally {
    held.release();
  }
  return answer;
}

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
});

describe("an administrator's writes, and deleting one's own account, from a session that ends meanwhile", () => {
  const RESET_PAGE = 'https://app.example.com/reset-password';
  let smtp: TestSmtpServer;
  let t: TestApp;
  let events: RecordedSecurityEvent[];
  /** Another administrator, who stays: disables the first, and checks what changed. */
  let other: LoggedIn;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await buildTestApp({
      email: {
        smtpUrl: smtp.url(),
        from: 'Example <no-reply@example.com>',
        passwordResetUrl: RESET_PAGE,
        timeoutMs: 2_000,
      },
    });
    events = captureEvents(t.app);
    other = await createUserAndLogin(t.app, 'admin');
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await t.app.close();
    await smtp.stop();
  });

  /** Runs `meanwhile` when the next role-lock change starts, before it takes the lock. */
  function beforeNextRolesLock(meanwhile: () => Promise<void>): void {
    const { kysely, dialect } = t.app.services.db;
    const repo = new UsersRepository(kysely, dialect);
    vi.spyOn(UsersRepository.prototype, 'withRolesLock').mockImplementationOnce(async (...args) => {
      await meanwhile();
      return repo.withRolesLock(...args);
    });
  }

  /**
   * Has the remaining administrator make `change` to `adminId` (disable, demote), and resolves
   * once it is committed and about to end the sessions of the account: `finish` lets it end them
   * and answers.
   */
  async function changedNotYetEnded(
    adminId: string,
    change: Record<string, unknown> = { disabled: true },
  ): Promise<{ finish: () => Promise<LightMyRequestResponse> }> {
    const { sessions } = t.app.services;
    const realEndAll = sessions.endAll.bind(sessions);
    let entered!: () => void;
    const reached = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    vi.spyOn(Sessions.prototype, 'endAll').mockImplementationOnce(async (...args) => {
      entered();
      await released;
      return realEndAll(...args);
    });
    const answer = patch(other, adminId, change);
    await reached;
    return {
      finish: async () => {
        release();
        return answer;
      },
    };
  }

  async function logoutAll(session: LoggedIn): Promise<void> {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout-all',
      headers: bearer(session.accessToken),
    });
    expect(res.statusCode, res.body).toBe(204);
  }

  /** The user as the remaining administrator sees it. */
  async function seen(id: string): Promise<LightMyRequestResponse> {
    return t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${id}`,
      headers: bearer(other.accessToken),
    });
  }

  function patch(session: LoggedIn, id: string, payload: Record<string, unknown>) {
    return t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${id}`,
      headers: bearer(session.accessToken),
      payload,
    });
  }

  function remove(session: LoggedIn, id: string) {
    return t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${id}`,
      headers: bearer(session.accessToken),
    });
  }

  it('a promotion (PATCH /users/:id {role}) is refused when the administrator is disabled meanwhile', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    beforeNextRolesLock(() => setDisabled(t.app, other.accessToken, admin.id, true));
    const res = await patch(admin, user.id, { role: 'admin', name: 'Promoted' });
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'user.role_changed')).toContainEqual(
      expect.objectContaining({ actorId: admin.id, target: { type: 'user', id: user.id } }),
    );
    expect(endedFailures(events, 'user.updated')).toHaveLength(1);
    expect((await seen(user.id)).json()).toMatchObject({ role: 'user', name: 'Test User' });
    await expectAccessWorks(t.app, user.accessToken);

    const promoted = await patch(other, user.id, { role: 'admin' });
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(promoted.json()).toMatchObject({ role: 'admin' });
  });

  it('a promotion is refused in the moment between the administrator being disabled and their sessions ending', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    let disabling!: { finish: () => Promise<LightMyRequestResponse> };
    beforeNextRolesLock(async () => {
      disabling = await changedNotYetEnded(admin.id);
    });
    const res = await patch(admin, user.id, { role: 'admin' });
    const disabled = await disabling.finish();
    expect(disabled.statusCode, disabled.body).toBe(200);
    expectProblem(res, 401, 'invalid_token');
    expect((await seen(user.id)).json()).toMatchObject({ role: 'user' });
  });

  it('a promotion is refused in the moment between the administrator being demoted and their sessions ending', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    let demoting!: { finish: () => Promise<LightMyRequestResponse> };
    beforeNextRolesLock(async () => {
      demoting = await changedNotYetEnded(admin.id, { role: 'user' });
    });
    const res = await patch(admin, user.id, { role: 'admin' });
    const demoted = await demoting.finish();
    expect(demoted.statusCode, demoted.body).toBe(200);
    expectProblem(res, 401, 'invalid_token');
    expect((await seen(user.id)).json()).toMatchObject({ role: 'user' });
  });

  it('disabling a user (PATCH /users/:id {disabled}) is refused when the administrator logs out everywhere meanwhile', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    beforeNextRolesLock(() => logoutAll(admin));
    const res = await patch(admin, user.id, { disabled: true });
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'user.disabled')).toContainEqual(
      expect.objectContaining({ actorId: admin.id, target: { type: 'user', id: user.id } }),
    );
    await expectAccessWorks(t.app, user.accessToken);
    expect((await loginWith(t.app, user.email)).statusCode).toBe(200);

    const disabled = await patch(other, user.id, { disabled: true });
    expect(disabled.statusCode, disabled.body).toBe(200);
    await expectAccessRefused(t.app, user.accessToken);
  });

  it("deleting a user (DELETE /users/:id) is refused when the administrator's session ends meanwhile", async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    beforeNextRolesLock(async () => {
      const out = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: bearer(admin.accessToken),
      });
      expect(out.statusCode, out.body).toBe(204);
    });
    const res = await remove(admin, user.id);
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'user.deleted')).toContainEqual(
      expect.objectContaining({ actorId: admin.id, target: { type: 'user', id: user.id } }),
    );
    expect((await seen(user.id)).statusCode).toBe(200);
    await expectAccessWorks(t.app, user.accessToken);

    const deleted = await remove(other, user.id);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect((await seen(user.id)).statusCode).toBe(404);
  });

  it("deleting one's own account is refused when its owner ends that session from another device", async () => {
    const owner = await registerAndLogin(t.app);
    const intruder = await login(t.app, owner.email);
    beforeNextRolesLock(() => endFromList(t, owner, intruder));
    const res = await remove(intruder, owner.id);
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'user.deleted')).toContainEqual(
      expect.objectContaining({ actorId: owner.id, target: { type: 'user', id: owner.id } }),
    );
    // The account, and the owner's session, go on.
    await expectAccessWorks(t.app, owner.accessToken);
    expect((await getMe(t.app, owner.accessToken)).json()).toMatchObject({ id: owner.id });

    const deleted = await remove(owner, owner.id);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect((await seen(owner.id)).statusCode).toBe(404);
  });

  it('creating a user (POST /users) is refused when the administrator logs out everywhere during the hash', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const email = uniqueEmail('created');
    const create = (session: LoggedIn) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: bearer(session.accessToken),
        payload: { email, password: STRONG_PASSWORD, name: 'Created', role: 'admin' },
      });
    const held = holdNextPasswordHash(t.app);
    let answer: Promise<LightMyRequestResponse>;
    try {
      answer = create(admin);
      await held.reached;
      await logoutAll(admin);
    } finally {
      held.release();
    }
    const res = await answer;
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'user.created')).toContainEqual(
      expect.objectContaining({ actorId: admin.id }),
    );
    const found = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users?email=${encodeURIComponent(email)}`,
      headers: bearer(other.accessToken),
    });
    expect(found.json()).toMatchObject({ items: [] });
    expectProblem(await loginWith(t.app, email), 401, 'invalid_credentials');

    const created = await create(other);
    expect(created.statusCode, created.body).toBe(201);
  });

  it('creating a user is refused in the moment between the administrator being disabled and their sessions ending', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const email = uniqueEmail('created');
    const held = holdNextPasswordHash(t.app);
    let answer: Promise<LightMyRequestResponse>;
    let disabling: { finish: () => Promise<LightMyRequestResponse> } | undefined;
    try {
      answer = t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: bearer(admin.accessToken),
        payload: { email, password: STRONG_PASSWORD, name: 'Created', role: 'user' },
      });
      await held.reached;
      disabling = await changedNotYetEnded(admin.id);
    } finally {
      held.release();
    }
    const res = await answer;
    const disabled = await disabling.finish();
    expect(disabled.statusCode, disabled.body).toBe(200);
    expectProblem(res, 401, 'invalid_token');
    expectProblem(await loginWith(t.app, email), 401, 'invalid_credentials');
  });

  it("an administrator's reset link (POST /users/:id/password-reset) is neither stored nor sent once the administrator is disabled", async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const tokens = new EmailTokensRepository(t.app.services.db.kysely);
    vi.spyOn(EmailTokensRepository.prototype, 'issue').mockImplementationOnce(async (input) => {
      await setDisabled(t.app, other.accessToken, admin.id, true);
      return tokens.issue(input);
    });
    const send = (session: LoggedIn) =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/users/${user.id}/password-reset`,
        headers: bearer(session.accessToken),
      });
    const res = await send(admin);
    expectProblem(res, 401, 'invalid_token');
    expect(endedFailures(events, 'password.reset_requested')).toContainEqual(
      expect.objectContaining({ actorId: admin.id, target: { type: 'user', id: user.id } }),
    );
    await t.app.services.accountEmail!.idle();
    expect(smtp.received.filter((m) => m.to.includes(user.email))).toHaveLength(0);
    const stored = await t.app.services.db.kysely
      .selectFrom('email_tokens')
      .select('id')
      .where('user_id', '=', user.id)
      .execute();
    expect(stored).toHaveLength(0);

    const sent = await send(other);
    expect(sent.statusCode, sent.body).toBe(202);
    await t.app.services.accountEmail!.idle();
    expect(smtp.received.filter((m) => m.to.includes(user.email))).toHaveLength(1);
  });
});
