import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken, sha256Hex, totpCode } from '../../src/crypto/index.js';
import { EmailTokensRepository } from '../../src/db/index.js';
import { AppError, isAppError } from '../../src/errors.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  postLogin,
  refreshOk,
} from '../auth/support.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { login, registerAndLogin, STRONG_PASSWORD, uniqueEmail } from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';

// UsersService.setPassword: a password set without the current one (`bulwark user set-password`,
// and the e-mailed reset link). Driven through the service; its effects checked over HTTP.

const NEW_PASSWORD = 'velvet orbit lantern mosaic 93';
const CONTEXT = { userAgent: 'set-password-test/1.0', requestId: null, ip: null };

// The app's clock, moved on by TOTP steps in the MFA test.
let offsetMs = 0;
const now = (): number => Date.now() + offsetMs;

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({}, { now });
});
afterAll(async () => {
  await t.app.close();
});

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!isAppError(error)) throw error;
  return error;
}

/** The user's password hash and each session's end reason, to show that nothing changed. */
async function snapshot(userId: string, sessionIds: string[]) {
  const row = await t.app.services.usersRepo.findById(userId);
  const reasons = await Promise.all(
    sessionIds.map(async (id) => (await t.app.services.sessions.find(id))?.end_reason ?? null),
  );
  return { hash: row?.password_hash, updatedAt: row?.updated_at, reasons };
}

describe('UsersService.setPassword', () => {
  it('makes a reset link mailed before it stop working (bulwark user set-password)', async () => {
    const user = await registerAndLogin(t.app);
    const tokens = new EmailTokensRepository(t.testDb.db.kysely);
    const tokenHash = sha256Hex(randomToken(32));
    await tokens.issue({
      userId: user.id,
      purpose: 'password_reset',
      tokenHash,
      email: user.email,
      now: now(),
      expiresAt: now() + 1_800_000,
    });
    expect(await tokens.findLive(tokenHash, 'password_reset', now())).toBeDefined();
    await t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT);
    expect(await tokens.findLive(tokenHash, 'password_reset', now())).toBeUndefined();
  });

  it('sets the password: the new one logs in, the old one no longer does', async () => {
    const user = await registerAndLogin(t.app);
    const before = await t.app.services.usersRepo.findById(user.id);
    const written = await t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT);

    const stored = await t.app.services.usersRepo.findById(user.id);
    // The row as written; the end of every session that follows moves the generation on.
    expect(stored).toEqual({ ...written, session_generation: before!.session_generation + 1 });
    expect(written.session_generation).toBe(before!.session_generation);
    expect(written.password_hash).toMatch(/^\$argon2id\$/);
    expect(written.password_hash).not.toBe(before!.password_hash);
    expect(JSON.stringify(written)).not.toContain(NEW_PASSWORD);
    expectProblem(await postLogin(t.app, user.email, STRONG_PASSWORD), 401, 'invalid_credentials');
    expect((await postLogin(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it("ends every session of the user at once, refresh tokens included, and no one else's", async () => {
    const user = await registerAndLogin(t.app);
    const other = await login(t.app, user.email);
    const bystander = await registerAndLogin(t.app);

    await t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT);

    for (const session of [user, other]) {
      await expectAccessRefused(t.app, session.accessToken);
      await expectRefreshRefused(t.app, session.refreshToken);
      expect((await t.app.services.sessions.find(session.sessionId))?.end_reason).toBe(
        'password_reset',
      );
    }
    await expectAccessWorks(t.app, bystander.accessToken);
    await refreshOk(t.app, bystander.refreshToken);
    // A session signed in with the new password is a fresh one and works.
    await expectAccessWorks(t.app, (await login(t.app, user.email, NEW_PASSWORD)).accessToken);
  });

  it('records password.reset with its details and session.ended, never with a password', async () => {
    const user = await registerAndLogin(t.app);
    await login(t.app, user.email);
    const events = captureEvents(t.app);

    await t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT, {
      details: { via: 'cli' },
    });

    const reset = events.filter((e) => e.type === 'password.reset');
    expect(reset).toEqual([
      expect.objectContaining({
        ...CONTEXT,
        type: 'password.reset',
        outcome: 'success',
        actorId: null,
        target: { type: 'user', id: user.id },
        details: { via: 'cli' },
      }),
    ]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        actorId: null,
        target: { type: 'user', id: user.id },
        details: { reason: 'password_reset', sessions: 2 },
      }),
    );
    // Stored in the audit table as emitted.
    await t.app.services.auditSink.flush();
    const [row] = await t.app.services.auditLog.list({ limit: 10, type: 'password.reset' });
    expect(row).toMatchObject({
      target_id: user.id,
      actor_id: null,
      user_agent: CONTEXT.userAgent,
    });
    expect(JSON.parse(row!.details)).toEqual({ via: 'cli' });

    const text = JSON.stringify(events) + JSON.stringify(row);
    expect(text).not.toContain(NEW_PASSWORD);
    expect(text).not.toContain(STRONG_PASSWORD);
    expect(t.logs.raw.join('\n')).not.toContain(NEW_PASSWORD);
  });

  it('keeps MFA on: the reset replaces the password only', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrolMfa(t.app, user.accessToken, now());
    offsetMs += STEP_MS;

    await t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT);

    expect((await t.app.services.usersRepo.findById(user.id))?.mfa_enabled).toBe(1);
    expectProblem(await loginWith(t.app, user.email, {}, NEW_PASSWORD), 401, 'mfa_required');
    const signedIn = await loginWith(
      t.app,
      user.email,
      { mfaCode: totpCode(secret, now()) },
      NEW_PASSWORD,
    );
    expect(signedIn.statusCode, signedIn.body).toBe(200);
  });

  describe('refuses, and changes nothing', () => {
    it.each([
      ['short', 'Xy7#kq'],
      ['common', 'password1234'],
      ['the email', 'EMAIL rides again 91'],
      ['the name', 'Gwendolyn Featherstone 77'],
    ])('a password that is %s: weak_password at /body/newPassword', async (_label, template) => {
      const email = uniqueEmail('weak');
      const user = await registerAndLogin(t.app, { email, name: 'Gwendolyn Featherstone' });
      const password = template.replace('EMAIL', email.split('@')[0]!);
      const before = await snapshot(user.id, [user.sessionId]);
      const events = captureEvents(t.app);
      let called = false;

      const error = await rejection(
        t.app.services.users.setPassword(user.id, password, CONTEXT, {
          beforeWrite: () => {
            called = true;
            return Promise.resolve();
          },
        }),
      );

      expect(error.code).toBe('weak_password');
      expect(error.errors?.length).toBeGreaterThan(0);
      for (const e of error.errors ?? []) expect(e.path).toBe('/body/newPassword');
      expect(JSON.stringify(error.errors)).not.toContain(password);
      expect(called).toBe(false);
      expect(await snapshot(user.id, [user.sessionId])).toEqual(before);
      expect(events).toEqual([]);
      await expectAccessWorks(t.app, user.accessToken);
      expect((await postLogin(t.app, email, STRONG_PASSWORD)).statusCode).toBe(200);
    });

    it('a weak password, with its errors at the path given', async () => {
      const user = await registerAndLogin(t.app);
      const error = await rejection(
        t.app.services.users.setPassword(user.id, 'short', CONTEXT, { path: '/body/password' }),
      );
      expect(error.code).toBe('weak_password');
      expect(error.errors).toEqual([
        { path: '/body/password', message: 'must be at least 12 characters' },
      ]);
    });

    it('when beforeWrite throws: its error, no event, sessions intact, old password kept', async () => {
      const user = await registerAndLogin(t.app);
      const other = await login(t.app, user.email);
      const before = await snapshot(user.id, [user.sessionId, other.sessionId]);
      const events = captureEvents(t.app);
      const refusal = new AppError('invalid_token', 'The link has been used.');
      let hashSeen: string | null | undefined;

      const error = await rejection(
        t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT, {
          beforeWrite: async () => {
            // Called once the checks passed, before anything is written.
            hashSeen = (await t.app.services.usersRepo.findById(user.id))?.password_hash;
            throw refusal;
          },
        }),
      );

      expect(error).toBe(refusal);
      expect(hashSeen).toBe(before.hash);
      expect(await snapshot(user.id, [user.sessionId, other.sessionId])).toEqual(before);
      expect(events).toEqual([]);
      await expectAccessWorks(t.app, user.accessToken);
      await refreshOk(t.app, other.refreshToken);
      expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
      expectProblem(await postLogin(t.app, user.email, NEW_PASSWORD), 401, 'invalid_credentials');
    });

    it('an unknown user id: not_found, without a check, a hash or an event', async () => {
      const events = captureEvents(t.app);
      let called = false;
      const error = await rejection(
        t.app.services.users.setPassword(randomUUID(), 'short', CONTEXT, {
          beforeWrite: () => {
            called = true;
            return Promise.resolve();
          },
        }),
      );
      expect(error.code).toBe('not_found');
      expect(called).toBe(false);
      expect(events).toEqual([]);
    });

    it('a user deleted while the password was hashed: not_found, nothing written or recorded', async () => {
      const user = await registerAndLogin(t.app);
      const events = captureEvents(t.app);
      const error = await rejection(
        t.app.services.users.setPassword(user.id, NEW_PASSWORD, CONTEXT, {
          beforeWrite: async () => {
            await t.app.services.usersRepo.delete(user.id);
          },
        }),
      );
      expect(error.code).toBe('not_found');
      expect(await t.app.services.usersRepo.findById(user.id)).toBeUndefined();
      expect(events.filter((e) => e.type === 'password.reset')).toEqual([]);
    });
  });
});
