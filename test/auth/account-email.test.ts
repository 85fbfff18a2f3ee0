/*
 * Password reset and address verification by e-mail, end to end: the app sends through a real
 * SMTP server on loopback (smtp-server), and the tests follow the links it mails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sha256Hex } from '../../src/crypto/index.js';
import { ConfigError } from '../../src/errors.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
} from '../helpers/identity.js';
import { holdNextPasswordCheck, holdNextPasswordHash } from '../helpers/hold-password-check.js';
import { enrolMfa, loginWith } from '../helpers/mfa.js';
import {
  outboxMails,
  startSmtpServer,
  type ReceivedMail,
  type TestSmtpServer,
} from '../helpers/smtp.js';
import {
  captureEvents,
  expectAccessRefused,
  expectProblem,
  expectRefreshRefused,
  fieldErrors,
  getMe,
  postLogin,
  setDisabled,
} from './support.js';

const RESET_PAGE = 'https://app.example.com/reset-password';
const VERIFY_PAGE = 'https://app.example.com/verify-email';
const NEW_PASSWORD = 'velvet orbit lantern mosaic 93';
const ATTACKER_PASSWORD = 'copper falcon drizzle meadow 41';
const LINK = /^(https:\/\/app\.example\.com\/[a-z-]+)#token=([A-Za-z0-9_-]{43})$/m;

let smtp: TestSmtpServer;
let t: TestApp;

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await buildTestApp({
    email: {
      smtpUrl: smtp.url(),
      from: 'Example <no-reply@example.com>',
      passwordResetUrl: RESET_PAGE,
      verifyEmailUrl: VERIFY_PAGE,
      perAccountPerHour: 3,
      timeoutMs: 2_000,
    },
    // The default account + client limit, for the lock-out test; no other test fails that often.
    rateLimit: { login: { accountClientFailures: 5 } },
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await t.app.close();
  await smtp.stop();
});

/** Waits until the app has done its background work and the mailer has sent everything. */
async function settled(): Promise<void> {
  await t.app.services.accountEmail!.idle();
}

function mailsTo(address: string, kind?: RegExp): ReceivedMail[] {
  return smtp.received.filter(
    (m) => m.to.includes(address) && (kind === undefined || kind.test(m.header('subject') ?? '')),
  );
}

/** The page and token of the last e-mail to `address` whose subject matches `subject`. */
async function lastLink(
  address: string,
  subject: RegExp,
): Promise<{ page: string; token: string }> {
  await settled();
  const mail = mailsTo(address, subject).at(-1);
  expect(mail, `no e-mail to ${address} matching ${String(subject)}`).toBeDefined();
  const match = LINK.exec(mail!.text);
  expect(match, mail!.text).not.toBeNull();
  return { page: match![1]!, token: match![2]! };
}

function forgot(email: string): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/password/forgot',
    payload: { email },
  });
}

function reset(token: string, newPassword = NEW_PASSWORD): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/password/reset',
    payload: { token, newPassword },
  });
}

function verify(token: string, accessToken?: string): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/email/verify',
    headers: accessToken === undefined ? {} : bearer(accessToken),
    payload: { token },
  });
}

function resend(accessToken: string): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/email/verification',
    headers: bearer(accessToken),
  });
}

function changePassword(
  accessToken: string,
  currentPassword: string,
  newPassword: string,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/password',
    headers: bearer(accessToken),
    payload: { currentPassword, newPassword },
  });
}

async function resetLink(email: string): Promise<string> {
  const res = await forgot(email);
  expect(res.statusCode, res.body).toBe(202);
  const { page, token } = await lastLink(email, /Reset your/);
  expect(page).toBe(RESET_PAGE);
  return token;
}

describe('POST /api/v1/auth/password/forgot and /reset', () => {
  it('mails a link whose token sets a new password once; every session ends; a notice follows', async () => {
    const user = await registerAndLogin(t.app);
    const other = await login(t.app, user.email);
    const events = captureEvents(t.app);

    const token = await resetLink(user.email);
    const mail = mailsTo(user.email, /Reset your/).at(-1)!;
    expect(mail.header('from')).toBe('Example <no-reply@example.com>');
    expect(mail.header('auto-submitted')).toBe('auto-generated');
    expect(mail.text).toContain('within 30 minutes');
    // Stored as a hash only.
    const rows = await t.testDb.db.kysely
      .selectFrom('email_tokens')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('purpose', '=', 'password_reset')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(sha256Hex(token));
    expect(JSON.stringify(rows)).not.toContain(token);

    const res = await reset(token);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expectProblem(await postLogin(t.app, user.email, STRONG_PASSWORD), 401, 'invalid_credentials');
    expect((await postLogin(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
    for (const session of [user, other]) {
      await expectAccessRefused(t.app, session.accessToken);
      await expectRefreshRefused(t.app, session.refreshToken);
    }
    // Used once: the same link is refused, and the token row is gone.
    expectProblem(await reset(token, 'another fine passphrase 77'), 400, 'invalid_reset_token');
    expect(
      await t.testDb.db.kysely
        .selectFrom('email_tokens')
        .select('id')
        .where('user_id', '=', user.id)
        .where('purpose', '=', 'password_reset')
        .execute(),
    ).toEqual([]);

    await settled();
    const notice = mailsTo(user.email, /password was changed/);
    expect(notice).toHaveLength(1);
    const metrics = await t.app.services.metrics.registry.metrics();
    for (const kind of ['password_reset', 'password_changed', 'email_verification']) {
      expect(metrics).toMatch(
        new RegExp(`^bulwark_emails_total\\{kind="${kind}",outcome="sent"\\} [1-9]`, 'm'),
      );
    }
    expect(notice[0]!.text).not.toMatch(/token=/);
    expect(events.map((e) => [e.type, e.outcome, e.details])).toEqual(
      expect.arrayContaining([
        ['password.reset_requested', 'success', undefined],
        ['password.reset', 'success', { via: 'email' }],
        ['email.verified', 'success', undefined],
        ['password.reset', 'failure', { reason: 'invalid_token' }],
      ]),
    );
    expect(events.filter((e) => e.type === 'session.ended')).not.toHaveLength(0);
  });

  it('answers 202 with the same empty body at once for an unknown address, and mails nothing', async () => {
    const events = captureEvents(t.app);
    const known = await registerAndLogin(t.app);
    const unknown = uniqueEmail('nobody');
    const [a, b] = [await forgot(known.email), await forgot(unknown)];
    for (const res of [a, b]) {
      expect(res.statusCode).toBe(202);
      expect(res.body).toBe('');
      expect(res.headers['content-type']).toBeUndefined();
      expect(res.headers['cache-control']).toBe('no-store');
    }
    await settled();
    expect(mailsTo(unknown)).toEqual([]);
    expect(mailsTo(known.email, /Reset your/)).toHaveLength(1);
    expect(
      events.find((e) => e.type === 'password.reset_requested' && e.outcome === 'failure'),
    ).toMatchObject({ target: null, details: { reason: 'unknown_email' } });
  });

  it('looks the address up only after the answer is written, so timing cannot tell either', async () => {
    const user = await registerAndLogin(t.app);
    await settled();
    const lookup = vi.spyOn(t.app.services.usersRepo, 'findByEmail');
    try {
      for (const email of [user.email, uniqueEmail('nobody')]) {
        lookup.mockClear();
        expect((await forgot(email)).statusCode).toBe(202);
        // Answered, and nothing about the address has been read yet.
        expect(lookup).not.toHaveBeenCalled();
        await settled();
        expect(lookup).toHaveBeenCalledTimes(1);
      }
    } finally {
      lookup.mockRestore();
    }
  });

  it('builds the link from the configured page only: a forged Host or X-Forwarded-* changes nothing', async () => {
    const user = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/forgot',
      headers: {
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        'x-forwarded-for': '203.0.113.9',
        origin: 'https://evil.example',
        referer: 'https://evil.example/steal',
      },
      payload: { email: user.email },
    });
    expect(res.statusCode).toBe(202);
    const { page, token } = await lastLink(user.email, /Reset your/);
    expect(page).toBe(RESET_PAGE);
    expect(mailsTo(user.email, /Reset your/).at(-1)!.text).not.toContain('evil');
    expect((await reset(token)).statusCode).toBe(204);
  });

  it('reads the address as sign-in does: case and spaces do not matter', async () => {
    const user = await registerAndLogin(t.app);
    const res = await forgot(`  ${user.email.toUpperCase()} `);
    expect(res.statusCode).toBe(202);
    await settled();
    expect(mailsTo(user.email, /Reset your/)).toHaveLength(1);
  });

  it('makes an older link stop working when a newer one is asked for', async () => {
    const user = await registerAndLogin(t.app);
    const first = await resetLink(user.email);
    const second = await resetLink(user.email);
    expect(second).not.toBe(first);
    expectProblem(await reset(first), 400, 'invalid_reset_token');
    expect((await reset(second)).statusCode).toBe(204);
  });

  it('refuses an expired link', async () => {
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    await t.testDb.db.kysely
      .updateTable('email_tokens')
      .set({ expires_at: Date.now() - 1 })
      .where('token_hash', '=', sha256Hex(token))
      .execute();
    expectProblem(await reset(token), 400, 'invalid_reset_token');
    expect((await postLogin(t.app, user.email)).statusCode).toBe(200);
  });

  it('keeps the link for a corrected password when the first one is weak', async () => {
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    const weak = expectProblem(await reset(token, 'password1234'), 400, 'weak_password');
    expect(fieldErrors(weak)[0]!.path).toBe('/body/newPassword');
    expect((await postLogin(t.app, user.email)).statusCode).toBe(200);
    expect((await reset(token)).statusCode).toBe(204);
  });

  it('lets exactly one of two concurrent uses of a link through', async () => {
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    const answers = await Promise.all([reset(token), reset(token, 'another fine passphrase 77')]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([204, 400]);
    const winner = answers[0].statusCode === 204 ? NEW_PASSWORD : 'another fine passphrase 77';
    expect((await postLogin(t.app, user.email, winner)).statusCode).toBe(200);
  });

  it('sends nothing to a disabled account, and a link sent before disabling stops working', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    const disable = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(admin.accessToken),
      payload: { disabled: true },
    });
    expect(disable.statusCode, disable.body).toBe(200);
    expectProblem(await reset(token), 400, 'invalid_reset_token');

    const before = mailsTo(user.email, /Reset your/).length;
    expect((await forgot(user.email)).statusCode).toBe(202);
    await settled();
    expect(mailsTo(user.email, /Reset your/)).toHaveLength(before);
  });

  it('keeps a link sent before disabling dead once the account is enabled again', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    await setDisabled(t.app, admin.accessToken, user.id, true);
    await setDisabled(t.app, admin.accessToken, user.id, false);
    expectProblem(await reset(token), 400, 'invalid_reset_token');
    expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
  });

  it('sends at most perAccountPerHour e-mails to one account, still answering 202', async () => {
    const events = captureEvents(t.app);
    const user = await registerAndLogin(t.app);
    await settled();
    // Registration sent one verification e-mail: two reset links are left this hour.
    for (let i = 0; i < 4; i++) expect((await forgot(user.email)).statusCode).toBe(202);
    await settled();
    expect(mailsTo(user.email, /Reset your/)).toHaveLength(2);
    expect(
      events.filter(
        (e) => e.type === 'password.reset_requested' && e.details?.reason === 'throttled',
      ),
    ).toHaveLength(2);
  });

  it('keeps MFA on: the new password alone does not sign in', async () => {
    const user = await registerAndLogin(t.app);
    await enrolMfa(t.app, user.accessToken, Date.now());
    const token = await resetLink(user.email);
    expect((await reset(token)).statusCode).toBe(204);
    expectProblem(await loginWith(t.app, user.email, {}, NEW_PASSWORD), 401, 'mfa_required');
  });

  it('gives an owner who locked themselves out by mistyping a fresh start with the new password, and counts on', async () => {
    const user = await registerAndLogin(t.app);
    const client = '203.0.113.77';
    const fromClient = (password: string): Promise<LightMyRequestResponse> =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password },
        remoteAddress: client,
      });
    for (let i = 0; i < 5; i += 1)
      expectProblem(await fromClient('not my password'), 401, 'invalid_credentials');
    // The account + client limit (5 failures / 15 min) now refuses even the right password.
    expectProblem(await fromClient(STRONG_PASSWORD), 429, 'rate_limited');
    const token = await resetLink(user.email);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/reset',
      payload: { token, newPassword: NEW_PASSWORD },
      remoteAddress: client,
    });
    expect(res.statusCode, res.body).toBe(204);
    expect((await fromClient(NEW_PASSWORD)).statusCode).toBe(200);
    // Guessing starts again from zero against the new password, and is limited as before.
    for (let i = 0; i < 5; i += 1)
      expectProblem(await fromClient('still not it'), 401, 'invalid_credentials');
    expectProblem(await fromClient(NEW_PASSWORD), 429, 'rate_limited');
  });

  it('refuses malformed tokens, unknown fields and a missing address with a problem', async () => {
    expectProblem(await reset('short'), 400, 'validation_failed');
    expectProblem(await reset(`${'A'.repeat(42)}!`), 400, 'validation_failed');
    expectProblem(await reset('A'.repeat(43)), 400, 'invalid_reset_token');
    const extra = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/reset',
      payload: { token: 'A'.repeat(43), newPassword: NEW_PASSWORD, userId: 'x' },
    });
    expectProblem(extra, 400, 'validation_failed');
    const none = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/forgot',
      payload: {},
    });
    expectProblem(none, 400, 'validation_failed');
  });

  it('sets no password when the account is disabled while the new one is hashed', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    const held = holdNextPasswordHash(t.app);
    let answer: Promise<LightMyRequestResponse>;
    try {
      answer = reset(token);
      await held.reached;
      const disable = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: bearer(admin.accessToken),
        payload: { disabled: true },
      });
      expect(disable.statusCode, disable.body).toBe(200);
    } finally {
      held.release();
    }
    expectProblem(await answer, 400, 'invalid_reset_token');
    const row = await t.app.services.usersRepo.findById(user.id);
    expect((await t.app.services.hasher.verify(row!.password_hash!, NEW_PASSWORD)).ok).toBe(false);
  });

  it('lets no password change that checked the old password overwrite a reset made meanwhile', async () => {
    // Someone who knows the old password and holds a session starts a change; the owner resets
    // the password while the change's check of the old one is in flight.
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    const held = holdNextPasswordCheck(t.app);
    let change: Promise<LightMyRequestResponse>;
    try {
      change = changePassword(user.accessToken, STRONG_PASSWORD, ATTACKER_PASSWORD);
      await held.checking;
      expect((await reset(token)).statusCode).toBe(204);
    } finally {
      held.release();
    }
    expectProblem(await change, 401, 'invalid_credentials');
    expectProblem(
      await postLogin(t.app, user.email, ATTACKER_PASSWORD),
      401,
      'invalid_credentials',
    );
    expect((await postLogin(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('tells the owner of a new password even when ending the sessions fails after it is stored', async () => {
    // A change (current password proven), then a reset by link: each stores the password, then
    // the database fails while the sessions end. The owner's notice is what lets them react.
    const changed = await registerAndLogin(t.app);
    vi.spyOn(t.app.services.sessions, 'endAll').mockRejectedValueOnce(new Error('database gone'));
    const change = await changePassword(changed.accessToken, STRONG_PASSWORD, NEW_PASSWORD);
    expect(change.statusCode).toBe(500);
    expect((await postLogin(t.app, changed.email, NEW_PASSWORD)).statusCode).toBe(200);

    const resetting = await registerAndLogin(t.app);
    const token = await resetLink(resetting.email);
    vi.spyOn(t.app.services.sessions, 'endAll').mockRejectedValueOnce(new Error('database gone'));
    expect((await reset(token)).statusCode).toBe(500);
    expect((await postLogin(t.app, resetting.email, NEW_PASSWORD)).statusCode).toBe(200);

    await settled();
    expect(mailsTo(changed.email, /password was changed/)).toHaveLength(1);
    expect(mailsTo(resetting.email, /password was changed/)).toHaveLength(1);
  });

  it('makes an outstanding link stop working once the password is changed another way', async () => {
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    const res = await changePassword(user.accessToken, STRONG_PASSWORD, ATTACKER_PASSWORD);
    expect(res.statusCode, res.body).toBe(204);
    expectProblem(await reset(token), 400, 'invalid_reset_token');
    expect((await postLogin(t.app, user.email, ATTACKER_PASSWORD)).statusCode).toBe(200);
  });

  it('never writes a token or a password to the log', async () => {
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    expect((await reset(token)).statusCode).toBe(204);
    await settled();
    const logged = JSON.stringify(t.logs.lines);
    expect(logged).not.toContain(token);
    expect(logged).not.toContain(NEW_PASSWORD);
    expect(logged).not.toContain(sha256Hex(token));
  });
});

describe('address verification', () => {
  it('mails a link at sign-up that verifies the address once', async () => {
    const user = await registerAndLogin(t.app);
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ emailVerified: false });
    const { page, token } = await lastLink(user.email, /Verify your/);
    expect(page).toBe(VERIFY_PAGE);

    const res = await verify(token, user.accessToken);
    expect(res.statusCode, res.body).toBe(204);
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ emailVerified: true });
    expectProblem(await verify(token, user.accessToken), 400, 'invalid_verification_token');
    expectProblem(await resend(user.accessToken), 409, 'email_already_verified');
  });

  it('sends a new link on request; the older one stops working', async () => {
    const user = await registerAndLogin(t.app);
    const first = await lastLink(user.email, /Verify your/);
    const res = await resend(user.accessToken);
    expect(res.statusCode, res.body).toBe(202);
    const second = await lastLink(user.email, /Verify your/);
    expect(second.token).not.toBe(first.token);
    expectProblem(await verify(first.token, user.accessToken), 400, 'invalid_verification_token');
    expect((await verify(second.token, user.accessToken)).statusCode).toBe(204);
  });

  it("verifies only from the account's own session: a click by the address's owner does not verify a squatter", async () => {
    // Mallory registers Victor's address with her own password; the link goes to Victor.
    const mallory = await registerAndLogin(t.app);
    const { token } = await lastLink(mallory.email, /Verify your/);
    const events = captureEvents(t.app);
    // Victor, not signed in to that account (he has no password for it), follows the link.
    expectProblem(await verify(token), 401, 'authentication_required');
    const victor = await registerAndLogin(t.app);
    expectProblem(await verify(token, victor.accessToken), 400, 'invalid_verification_token');
    expect(events.find((e) => e.type === 'email.verified')).toMatchObject({
      outcome: 'failure',
      actorId: victor.id,
      target: { type: 'user', id: mallory.id },
      details: { reason: 'other_account' },
    });
    expect((await getMe(t.app, mallory.accessToken)).json()).toMatchObject({
      emailVerified: false,
    });
    // Refused before it was spent: the account's own session still verifies with it.
    expect((await verify(token, mallory.accessToken)).statusCode).toBe(204);
  });

  it('answers 429 with Retry-After past the per-account limit', async () => {
    const user = await registerAndLogin(t.app);
    await settled();
    expect((await resend(user.accessToken)).statusCode).toBe(202);
    expect((await resend(user.accessToken)).statusCode).toBe(202);
    const res = await resend(user.accessToken);
    expectProblem(res, 429, 'rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('gives accounts made by an administrator no e-mail until they ask', async () => {
    const user = await createUserAndLogin(t.app, 'user');
    await settled();
    expect(mailsTo(user.email)).toEqual([]);
    expect((await resend(user.accessToken)).statusCode).toBe(202);
    await settled();
    expect(mailsTo(user.email, /Verify your/)).toHaveLength(1);
  });

  it('refuses a resend without a token, and a reset token as a verification token', async () => {
    const anonymous = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/verification',
    });
    expectProblem(anonymous, 401, 'authentication_required');
    const user = await registerAndLogin(t.app);
    const token = await resetLink(user.email);
    expectProblem(await verify(token, user.accessToken), 400, 'invalid_verification_token');
    // And the other way round.
    const verification = await lastLink(user.email, /Verify your/);
    expectProblem(await reset(verification.token), 400, 'invalid_reset_token');
  });
});

describe('POST /api/v1/users/:id/password-reset (an administrator sends a reset link)', () => {
  function sendLink(accessToken: string, id: string): Promise<LightMyRequestResponse> {
    return t.app.inject({
      method: 'POST',
      url: `/api/v1/users/${id}/password-reset`,
      headers: bearer(accessToken),
    });
  }

  it('mails the user a link that works like their own; the administrator learns no password', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const events = captureEvents(t.app);
    const res = await sendLink(admin.accessToken, user.id);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.body).toBe('');
    const { token } = await lastLink(user.email, /Reset your/);
    expect(events.find((e) => e.type === 'password.reset_requested')).toMatchObject({
      outcome: 'success',
      actorId: admin.id,
      target: { type: 'user', id: user.id },
      details: { by: 'admin' },
    });
    expect((await reset(token)).statusCode).toBe(204);
    expect((await postLogin(t.app, user.email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('is 403 for a non-admin, 404 for an unknown id, 409 for a disabled or password-less account', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    expectProblem(await sendLink(user.accessToken, admin.id), 403, 'forbidden');
    expectProblem(
      await sendLink(admin.accessToken, '7b0d3d1c-4c61-4c7e-9a53-0d6f3c2f9b11'),
      404,
      'not_found',
    );
    expectProblem(await sendLink(admin.accessToken, 'not-a-uuid'), 400, 'validation_failed');

    const external = await t.app.services.users.createExternal(
      {
        email: uniqueEmail('oidc-only'),
        name: 'Provider Only',
        role: 'user',
        emailVerified: true,
        via: 'oidc',
      },
      {},
    );
    expectProblem(await sendLink(admin.accessToken, external.id), 409, 'conflict');
    await t.app.services.usersRepo.update(user.id, { disabled: 1 });
    expectProblem(await sendLink(admin.accessToken, user.id), 409, 'conflict');
    await settled();
    expect(mailsTo(user.email, /Reset your/)).toEqual([]);
  });

  it('answers 429 with Retry-After past the per-account e-mail limit', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    await settled();
    expect((await sendLink(admin.accessToken, user.id)).statusCode).toBe(202);
    expect((await sendLink(admin.accessToken, user.id)).statusCode).toBe(202);
    const res = await sendLink(admin.accessToken, user.id);
    expectProblem(res, 429, 'rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('a mail setting only the start can check', () => {
  it('fails the start with a config error naming the settings when the CA file cannot be read', async () => {
    const start = buildTestApp({
      email: {
        smtpUrl: 'smtp://mailer:s3cret@127.0.0.1:2525',
        smtpCaFile: '/nonexistent/relay-ca.pem',
        passwordResetUrl: RESET_PAGE,
      },
    });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow(/email\.smtpCaFile/);
    await expect(start).rejects.not.toThrow(/s3cret/);
  });
});

describe('shutdown with e-mail pending', () => {
  it('gives a stalled relay a quarter of server.shutdownTimeoutMs, so the rest of the shutdown still runs within it', async () => {
    const stalled = await startSmtpServer({ stall: true });
    const s = await buildTestApp({
      server: { shutdownTimeoutMs: 2_000 },
      email: { smtpUrl: stalled.url(), passwordResetUrl: RESET_PAGE, timeoutMs: 10_000 },
    });
    let started: number;
    try {
      const user = await registerAndLogin(s.app);
      const res = await s.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password/forgot',
        payload: { email: user.email },
      });
      expect(res.statusCode).toBe(202);
      // The link is queued, and its delivery hangs on the relay that never greets.
      await vi.waitFor(() => expect(stalled.connections).toBe(1));
    } finally {
      started = Date.now();
      await s.app.close();
      await stalled.stop();
    }
    // server.ts exits 1 ("shutdown timed out") at 2 s, before the audit events are flushed.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1_000);
    expect(s.logs.lines).toContainEqual(
      expect.objectContaining({
        abandoned: 1,
        msg: 'mail stopped with messages pending; they were not sent',
      }),
    );
  });
});

// docs/security.md "No mail bombing": "Like every limit, it is off when rateLimit.enabled is
// false." An operator who turns limits off must know that this one goes too.
describe('with rateLimit.enabled=false', () => {
  it('sends every reset e-mail asked for: the per-account limit is off too', async () => {
    const outbox = mkdtempSync(join(tmpdir(), 'bulwark-unlimited-outbox-'));
    const open = await buildTestApp({
      rateLimit: { enabled: false },
      email: { outboxDir: outbox, passwordResetUrl: RESET_PAGE, perAccountPerHour: 1 },
    });
    try {
      const user = await registerAndLogin(open.app);
      for (let i = 0; i < 3; i++) {
        const res = await open.app.inject({
          method: 'POST',
          url: '/api/v1/auth/password/forgot',
          payload: { email: user.email },
        });
        expect(res.statusCode).toBe(202);
      }
      await open.app.services.accountEmail!.idle();
      expect(outboxMails(outbox).filter((m) => m.to.includes(user.email))).toHaveLength(3);
    } finally {
      await open.app.close();
    }
  });
});

describe('without e-mail configured', () => {
  it('has no reset or verification routes, and sign-up sends nothing', async () => {
    const plain = await buildTestApp();
    try {
      expect(plain.app.services.accountEmail).toBeUndefined();
      for (const url of [
        '/api/v1/auth/password/forgot',
        '/api/v1/auth/password/reset',
        '/api/v1/auth/email/verify',
        '/api/v1/auth/email/verification',
        '/api/v1/users/7b0d3d1c-4c61-4c7e-9a53-0d6f3c2f9b11/password-reset',
      ]) {
        const res = await plain.app.inject({ method: 'POST', url, payload: {} });
        expectProblem(res, 404, 'not_found');
      }
      const doc = (await plain.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        paths: Record<string, unknown>;
      }>();
      expect(Object.keys(doc.paths).filter((p) => /forgot|reset|email\//.test(p))).toEqual([]);
    } finally {
      await plain.app.close();
    }
  });
});
