/*
 * Account lifecycle × writes in flight (see lifecycle-matrix-inflight.test.ts): an
 * administrator's writes, and deleting one's own account, from a session that ends meanwhile.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmailTokensRepository, UsersRepository } from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { holdNextPasswordHash } from '../helpers/hold-password-check.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { loginWith } from '../helpers/mfa.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  getMe,
  setDisabled,
} from '../auth/support.js';
import { endedFailures, endFromList, pauseNextEndAll } from './inflight-support.js';

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
    const { reached, release } = pauseNextEndAll(t);
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
