/*
 * A user changes their own e-mail address, end to end: the app sends through a real SMTP server
 * on loopback (smtp-server), and the tests follow the links it mails.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sha256Hex } from '../../src/crypto/index.js';
import { AppError } from '../../src/errors.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
} from '../helpers/identity.js';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  fieldErrors,
  getMe,
  postLogin,
  refreshOk,
  setDisabled,
} from './support.js';

const CHANGE_PAGE = 'https://app.example.com/change-email';
const RESET_PAGE = 'https://app.example.com/reset-password';
const VERIFY_PAGE = 'https://app.example.com/verify-email';
const LINK = /^(https:\/\/app\.example\.com\/[a-z-]+)#token=([A-Za-z0-9_-]{43})$/m;
const CONFIRM_SUBJECT = /Confirm your new e-mail address/;
const REQUESTED_SUBJECT = /e-mail address was requested/;
const CHANGED_SUBJECT = /e-mail address was changed/;
const IN_USE_SUBJECT = /Someone tried to use your e-mail address/;

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
      changeEmailUrl: CHANGE_PAGE,
      perAccountPerHour: 4,
      timeoutMs: 2_000,
    },
    // The default account + client limit, for the throttle test.
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

async function settled(): Promise<void> {
  await t.app.services.accountEmail!.idle();
}

function mailsTo(address: string, subject?: RegExp): ReceivedMail[] {
  return smtp.received.filter(
    (m) =>
      m.to.includes(address) && (subject === undefined || subject.test(m.header('subject') ?? '')),
  );
}

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

function requestChange(
  accessToken: string | undefined,
  newEmail: string,
  password = STRONG_PASSWORD,
  remoteAddress?: string,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/email/change',
    headers: accessToken === undefined ? {} : bearer(accessToken),
    payload: { newEmail, password },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
}

function confirm(accessToken: string | undefined, token: string): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/email/change/confirm',
    headers: accessToken === undefined ? {} : bearer(accessToken),
    payload: { token },
  });
}

/** Asks for a change to `newEmail` and returns the token of the link mailed there. */
async function changeLink(accessToken: string, newEmail: string): Promise<string> {
  const res = await requestChange(accessToken, newEmail);
  expect(res.statusCode, res.body).toBe(202);
  const { page, token } = await lastLink(newEmail, CONFIRM_SUBJECT);
  expect(page).toBe(CHANGE_PAGE);
  return token;
}

async function changeTokens(userId: string): Promise<{ token_hash: string }[]> {
  return t.testDb.db.kysely
    .selectFrom('email_tokens')
    .select('token_hash')
    .where('user_id', '=', userId)
    .where('purpose', '=', 'email_change')
    .execute();
}

describe('POST /api/v1/auth/email/change and /change/confirm', () => {
  it('mails a link to the new address and a notice to the old; confirming moves the account, verified, and ends the other sessions', async () => {
    const user = await registerAndLogin(t.app);
    const other = await login(t.app, user.email);
    const newEmail = uniqueEmail('moved');
    const events = captureEvents(t.app);
    // A reset link outstanding at the old address must not outlive the change.
    const forgot = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/forgot',
      payload: { email: user.email },
    });
    expect(forgot.statusCode).toBe(202);
    const { token: resetToken } = await lastLink(user.email, /Reset your/);
    const { token: verifyToken } = await lastLink(user.email, /Verify your/);

    const res = await requestChange(user.accessToken, newEmail);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.body).toBe('');
    const { page, token } = await lastLink(newEmail, CONFIRM_SUBJECT);
    expect(page).toBe(CHANGE_PAGE);
    const link = mailsTo(newEmail, CONFIRM_SUBJECT).at(-1)!;
    expect(link.header('from')).toBe('Example <no-reply@example.com>');
    expect(link.text).toContain('within 60 minutes');
    // The old address hears of it, with the new address and no link.
    const notice = mailsTo(user.email, REQUESTED_SUBJECT);
    expect(notice).toHaveLength(1);
    expect(notice[0]!.text).toContain(newEmail);
    expect(notice[0]!.text).not.toMatch(/token=/);
    // Stored as a hash only, with the address it moves to.
    const rows = await t.testDb.db.kysely
      .selectFrom('email_tokens')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('purpose', '=', 'email_change')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      token_hash: sha256Hex(token),
      email: user.email,
      new_email: newEmail,
    });
    expect(JSON.stringify(rows)).not.toContain(token);
    // Nothing changes before the link is confirmed.
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ email: user.email });

    const done = await confirm(user.accessToken, token);
    expect(done.statusCode, done.body).toBe(204);
    expect(done.body).toBe('');
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({
      email: newEmail,
      emailVerified: true,
    });
    expect((await postLogin(t.app, newEmail)).statusCode).toBe(200);
    expectProblem(await postLogin(t.app, user.email), 401, 'invalid_credentials');
    // The session that confirmed stays; every other one ends, refresh tokens included.
    await expectAccessWorks(t.app, user.accessToken);
    await refreshOk(t.app, user.refreshToken);
    await expectAccessRefused(t.app, other.accessToken);
    await expectRefreshRefused(t.app, other.refreshToken);
    // The links sent to the old address stop working, and every token of the account is gone.
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password/reset',
        payload: { token: resetToken, newPassword: 'velvet orbit lantern mosaic 93' },
      }),
      400,
      'invalid_reset_token',
    );
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/email/verify',
        headers: bearer(user.accessToken),
        payload: { token: verifyToken },
      }),
      400,
      'invalid_verification_token',
    );
    expect(
      await t.testDb.db.kysely
        .selectFrom('email_tokens')
        .select('id')
        .where('user_id', '=', user.id)
        .execute(),
    ).toEqual([]);
    // The former address is told, without a link.
    await settled();
    const changed = mailsTo(user.email, CHANGED_SUBJECT);
    expect(changed).toHaveLength(1);
    expect(changed[0]!.text).toContain(newEmail);
    expect(changed[0]!.text).not.toMatch(/token=/);
    expect(mailsTo(newEmail, CHANGED_SUBJECT)).toEqual([]);

    const metrics = await t.app.services.metrics.registry.metrics();
    for (const kind of ['email_change', 'email_change_requested', 'email_changed']) {
      expect(metrics).toMatch(
        new RegExp(`^bulwark_emails_total\\{kind="${kind}",outcome="sent"\\} [1-9]`, 'm'),
      );
    }
    expect(
      events
        .filter((e) => e.type.startsWith('email.change') || e.type === 'session.ended')
        .map((e) => [e.type, e.outcome, e.actorId, e.target, e.details]),
    ).toEqual([
      ['email.change_requested', 'success', user.id, { type: 'user', id: user.id }, undefined],
      ['email.changed', 'success', user.id, { type: 'user', id: user.id }, undefined],
      [
        'session.ended',
        'success',
        user.id,
        { type: 'user', id: user.id },
        { reason: 'email_changed', sessions: 1 },
      ],
    ]);
    // No event names an address or carries the token.
    const recorded = JSON.stringify(events.filter((e) => e.type.startsWith('email.')));
    expect(recorded).not.toContain(newEmail);
    expect(recorded).not.toContain(user.email);
    const logged = JSON.stringify(t.logs.lines);
    expect(logged).not.toContain(token);
    expect(logged).not.toContain(sha256Hex(token));
  });

  it('answers a taken address the same 202, mails its owner a notice and no link, and tells the old address', async () => {
    const user = await registerAndLogin(t.app);
    const owner = await registerAndLogin(t.app);
    const free = uniqueEmail('free');
    await settled();
    const events = captureEvents(t.app);
    const [taken, open] = [
      await requestChange(user.accessToken, owner.email),
      await requestChange(user.accessToken, free),
    ];
    for (const res of [taken, open]) {
      expect(res.statusCode).toBe(202);
      expect(res.body).toBe('');
      expect(res.headers['content-type']).toBeUndefined();
    }
    await settled();
    expect(mailsTo(owner.email, IN_USE_SUBJECT)).toHaveLength(1);
    expect(mailsTo(owner.email, CONFIRM_SUBJECT)).toEqual([]);
    expect(mailsTo(owner.email, IN_USE_SUBJECT)[0]!.text).not.toMatch(/token=/);
    expect(mailsTo(free, CONFIRM_SUBJECT)).toHaveLength(1);
    expect(mailsTo(user.email, REQUESTED_SUBJECT)).toHaveLength(2);
    expect(
      events.filter((e) => e.type === 'email.change_requested').map((e) => [e.outcome, e.details]),
    ).toEqual([
      ['failure', { reason: 'email_taken' }],
      ['success', undefined],
    ]);
    // The owner's account is untouched.
    expect((await postLogin(t.app, owner.email)).statusCode).toBe(200);
  });

  // docs/security.md: "The notice to a taken address counts against the requesting account,
  // never its owner's, so nobody can use up someone else's reset e-mails."
  it("counts notices to a taken address against the requester, never the owner's e-mails", async () => {
    const user = await registerAndLogin(t.app);
    const owner = await registerAndLogin(t.app);
    await settled();
    // Registration used one e-mail of each account's four; the requester spends its other three.
    for (let i = 0; i < 3; i += 1) {
      expect((await requestChange(user.accessToken, owner.email)).statusCode).toBe(202);
    }
    await settled();
    expect(mailsTo(owner.email, IN_USE_SUBJECT)).toHaveLength(3);
    expectProblem(await requestChange(user.accessToken, owner.email), 429, 'rate_limited');
    // The owner still has three of their own.
    for (let i = 0; i < 3; i += 1) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/email/verification',
        headers: bearer(owner.accessToken),
      });
      expect(res.statusCode, res.body).toBe(202);
    }
  });

  it('looks the new address up only after the answer is written, so timing cannot tell either', async () => {
    const user = await registerAndLogin(t.app);
    const owner = await registerAndLogin(t.app);
    await settled();
    const lookup = vi.spyOn(t.app.services.usersRepo, 'findByEmail');
    for (const email of [owner.email, uniqueEmail('nobody')]) {
      lookup.mockClear();
      expect((await requestChange(user.accessToken, email)).statusCode).toBe(202);
      expect(lookup).not.toHaveBeenCalled();
      await settled();
      expect(lookup).toHaveBeenCalledWith(email);
    }
  });

  it('builds the link from the configured page only: a forged Host or X-Forwarded-* changes nothing', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('forged-host');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/change',
      headers: {
        ...bearer(user.accessToken),
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
      },
      payload: { newEmail, password: STRONG_PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(202);
    const { page } = await lastLink(newEmail, CONFIRM_SUBJECT);
    expect(page).toBe(CHANGE_PAGE);
    for (const mail of [...mailsTo(newEmail), ...mailsTo(user.email)]) {
      expect(mail.text).not.toContain('evil');
    }
  });

  it('refuses a wrong password with 401, sends nothing, and counts it as a failed login', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('never');
    const client = '203.0.113.91';
    const events = captureEvents(t.app);
    for (let i = 0; i < 5; i += 1) {
      expectProblem(
        await requestChange(user.accessToken, newEmail, 'not my password', client),
        401,
        'invalid_credentials',
      );
    }
    // The account + client limit (5 failures / 15 min) now refuses even the right password here,
    // and a login from that client alike: the same counters.
    const throttled = await requestChange(user.accessToken, newEmail, STRONG_PASSWORD, client);
    expectProblem(throttled, 429, 'rate_limited');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    const loginFromClient = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: STRONG_PASSWORD },
      remoteAddress: client,
    });
    expectProblem(loginFromClient, 429, 'rate_limited');
    await settled();
    expect(mailsTo(newEmail)).toEqual([]);
    expect(mailsTo(user.email, REQUESTED_SUBJECT)).toEqual([]);
    expect(await changeTokens(user.id)).toEqual([]);
    expect(events.filter((e) => e.type === 'email.change_requested').map((e) => e.details)).toEqual(
      Array.from({ length: 5 }, () => ({ reason: 'wrong_password' })),
    );
    expect(events.find((e) => e.type === 'login.throttled')).toMatchObject({
      target: { type: 'user', id: user.id },
      details: { scope: 'account_client' },
    });
  });

  it('refuses the current address (however spelled) and a malformed one with a 400', async () => {
    const user = await registerAndLogin(t.app);
    const same = expectProblem(
      await requestChange(user.accessToken, `  ${user.email.toUpperCase()} `),
      400,
      'email_unchanged',
    );
    expect(fieldErrors(same)[0]!.path).toBe('/body/newEmail');
    for (const bad of ['not-an-address', '"admin"@example.com', 'a\u200b@example.com']) {
      const res = expectProblem(
        await requestChange(user.accessToken, bad),
        400,
        'validation_failed',
      );
      expect(fieldErrors(res)[0]!.path).toBe('/body/newEmail');
    }
    const extra = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/change',
      headers: bearer(user.accessToken),
      payload: { newEmail: uniqueEmail(), password: STRONG_PASSWORD, userId: user.id },
    });
    expectProblem(extra, 400, 'validation_failed');
    expect(await changeTokens(user.id)).toEqual([]);
  });

  it('stores the new address normalised as registration does', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('mixed');
    const res = await requestChange(user.accessToken, `  ${newEmail.toUpperCase()}  `);
    expect(res.statusCode, res.body).toBe(202);
    const { token } = await lastLink(newEmail, CONFIRM_SUBJECT);
    expect((await confirm(user.accessToken, token)).statusCode).toBe(204);
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ email: newEmail });
  });

  it('refuses an account with no password (provider sign-in only) with 403 password_required', async () => {
    const row = await t.app.services.users.createExternal(
      {
        email: uniqueEmail('oidc-only'),
        name: 'Provider Only',
        role: 'user',
        emailVerified: true,
        via: 'oidc',
      },
      {},
    );
    const { pair } = await t.app.services.auth.startSession(
      row,
      {},
      () => new AppError('not_found'),
    );
    const events = captureEvents(t.app);
    const newEmail = uniqueEmail('oidc-new');
    expectProblem(
      await requestChange(pair.accessToken, newEmail, 'anything at all'),
      403,
      'password_required',
    );
    await settled();
    expect(mailsTo(newEmail)).toEqual([]);
    expect(events.find((e) => e.type === 'email.change_requested')).toMatchObject({
      outcome: 'failure',
      details: { reason: 'no_password' },
    });
  });

  it('answers 429 with Retry-After past the per-account e-mail limit', async () => {
    const user = await registerAndLogin(t.app);
    await settled();
    // Registration sent one verification e-mail: three requests are left this hour.
    for (let i = 0; i < 3; i += 1) {
      expect((await requestChange(user.accessToken, uniqueEmail('flood'))).statusCode).toBe(202);
    }
    // The earlier requests' background work records its events first.
    await settled();
    const events = captureEvents(t.app);
    const flood = uniqueEmail('flood');
    const res = await requestChange(user.accessToken, flood);
    expectProblem(res, 429, 'rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    await settled();
    expect(
      events.filter((e) => e.type === 'email.change_requested').map((e) => [e.outcome, e.details]),
    ).toEqual([['failure', { reason: 'throttled' }]]);
    expect(mailsTo(flood)).toEqual([]);
  });

  it('makes an older link stop working when a newer change is asked for', async () => {
    const user = await registerAndLogin(t.app);
    const first = uniqueEmail('first');
    const second = uniqueEmail('second');
    const firstToken = await changeLink(user.accessToken, first);
    const secondToken = await changeLink(user.accessToken, second);
    expectProblem(await confirm(user.accessToken, firstToken), 400, 'invalid_email_change_token');
    expect((await confirm(user.accessToken, secondToken)).statusCode).toBe(204);
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ email: second });
  });

  it('makes an older link stop working when the newer request names a taken address', async () => {
    const user = await registerAndLogin(t.app);
    const owner = await registerAndLogin(t.app);
    const token = await changeLink(user.accessToken, uniqueEmail('earlier'));
    expect((await requestChange(user.accessToken, owner.email)).statusCode).toBe(202);
    await settled();
    expectProblem(await confirm(user.accessToken, token), 400, 'invalid_email_change_token');
  });

  it("confirms only from the account's own session: a click by the new address's owner does not move it", async () => {
    // Mallory asks to move her account to an address of Victor's that has no account here; the
    // link goes to Victor, who is signed in to an account of his own.
    const mallory = await registerAndLogin(t.app);
    const victorEmail = uniqueEmail('victor');
    const token = await changeLink(mallory.accessToken, victorEmail);
    const events = captureEvents(t.app);
    expectProblem(await confirm(undefined, token), 401, 'authentication_required');
    const victor = await registerAndLogin(t.app);
    expectProblem(await confirm(victor.accessToken, token), 400, 'invalid_email_change_token');
    expect(events.find((e) => e.type === 'email.changed')).toMatchObject({
      outcome: 'failure',
      actorId: victor.id,
      target: { type: 'user', id: mallory.id },
      details: { reason: 'other_account' },
    });
    expect((await getMe(t.app, mallory.accessToken)).json()).toMatchObject({
      email: mallory.email,
    });
    expect((await getMe(t.app, victor.accessToken)).json()).toMatchObject({
      email: victor.email,
    });
    // Refused before it was spent: the account's own session still confirms with it.
    expect((await confirm(mallory.accessToken, token)).statusCode).toBe(204);
  });

  it('refuses a used, an expired and a malformed token', async () => {
    const user = await registerAndLogin(t.app);
    const token = await changeLink(user.accessToken, uniqueEmail('once'));
    expect((await confirm(user.accessToken, token)).statusCode).toBe(204);
    expectProblem(await confirm(user.accessToken, token), 400, 'invalid_email_change_token');

    const later = await changeLink(user.accessToken, uniqueEmail('late'));
    await t.testDb.db.kysely
      .updateTable('email_tokens')
      .set({ expires_at: Date.now() - 1 })
      .where('token_hash', '=', sha256Hex(later))
      .execute();
    const events = captureEvents(t.app);
    expectProblem(await confirm(user.accessToken, later), 400, 'invalid_email_change_token');
    expect(events.find((e) => e.type === 'email.changed')).toMatchObject({
      outcome: 'failure',
      target: null,
      details: { reason: 'invalid_token' },
    });

    expectProblem(await confirm(user.accessToken, 'short'), 400, 'validation_failed');
    expectProblem(await confirm(user.accessToken, `${'A'.repeat(42)}!`), 400, 'validation_failed');
    expectProblem(
      await confirm(user.accessToken, 'A'.repeat(43)),
      400,
      'invalid_email_change_token',
    );
  });

  it('refuses a reset or verification token as a change token', async () => {
    const user = await registerAndLogin(t.app);
    const { token } = await lastLink(user.email, /Verify your/);
    expectProblem(await confirm(user.accessToken, token), 400, 'invalid_email_change_token');
    // And the other way round: a change token verifies nothing.
    const change = await changeLink(user.accessToken, uniqueEmail('cross'));
    const verify = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/verify',
      headers: bearer(user.accessToken),
      payload: { token: change },
    });
    expectProblem(verify, 400, 'invalid_verification_token');
  });

  it('answers 409 email_taken when the address was registered between request and confirmation', async () => {
    const user = await registerAndLogin(t.app);
    const wanted = uniqueEmail('contested');
    const token = await changeLink(user.accessToken, wanted);
    await registerAndLogin(t.app, { email: wanted });
    const events = captureEvents(t.app);
    expectProblem(await confirm(user.accessToken, token), 409, 'email_taken');
    expect(events.find((e) => e.type === 'email.changed')).toMatchObject({
      outcome: 'failure',
      details: { reason: 'email_taken' },
    });
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ email: user.email });
    await expectAccessWorks(t.app, user.accessToken);
  });

  it('tells the old address even when ending the other sessions fails after the change', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('moved-anyway');
    const token = await changeLink(user.accessToken, newEmail);
    // The database fails just then: the change is committed, the sessions could not be ended.
    vi.spyOn(t.app.services.sessions, 'endAll').mockRejectedValueOnce(new Error('database gone'));
    expect((await confirm(user.accessToken, token)).statusCode).toBe(500);
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ email: newEmail });
    // The owner of the old address still hears of it: the one word that lets them act.
    await settled();
    expect(mailsTo(user.email, CHANGED_SUBJECT)).toHaveLength(1);
  });

  it('refuses a link once the account has another address', async () => {
    const user = await registerAndLogin(t.app);
    const stale = await changeLink(user.accessToken, uniqueEmail('stale'));
    // The address changes another way (an operator's direct edit) while the link is out.
    await t.app.services.usersRepo.update(user.id, { email: uniqueEmail('elsewhere') });
    expectProblem(await confirm(user.accessToken, stale), 400, 'invalid_email_change_token');
  });

  it('lets exactly one of two concurrent confirmations with one link through', async () => {
    // From one session (the confirming session is the one kept; from two, the loser's session
    // may already have ended by the time it is authenticated: a 401, just as safe).
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('twice');
    const token = await changeLink(user.accessToken, newEmail);
    const answers = await Promise.all([
      confirm(user.accessToken, token),
      confirm(user.accessToken, token),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([204, 400]);
    expectProblem(
      answers.find((r) => r.statusCode === 400)!,
      400,
      'invalid_email_change_token',
    );
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ email: newEmail });
    await settled();
    expect(mailsTo(user.email, CHANGED_SUBJECT)).toHaveLength(1);
  });

  it('moves exactly one of two accounts confirming links to one address at once; the other is 409 with its link unspent', async () => {
    const first = await registerAndLogin(t.app);
    const second = await registerAndLogin(t.app);
    const wanted = uniqueEmail('raced');
    const firstToken = await changeLink(first.accessToken, wanted);
    const secondToken = await changeLink(second.accessToken, wanted);
    const answers = await Promise.all([
      confirm(first.accessToken, firstToken),
      confirm(second.accessToken, secondToken),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([204, 409]);
    const [winner, loser] = answers[0].statusCode === 204 ? [first, second] : [second, first];
    expectProblem(
      answers.find((r) => r.statusCode === 409)!,
      409,
      'email_taken',
    );
    expect((await getMe(t.app, winner.accessToken)).json()).toMatchObject({ email: wanted });
    expect((await getMe(t.app, loser.accessToken)).json()).toMatchObject({ email: loser.email });
    expect(await changeTokens(loser.id)).toHaveLength(1);
  });

  it('lets no pending change outlive a password change or reset (what the notice to the old address advises)', async () => {
    const user = await registerAndLogin(t.app);
    const token = await changeLink(user.accessToken, uniqueEmail('hijack'));
    const changed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: bearer(user.accessToken),
      payload: { currentPassword: STRONG_PASSWORD, newPassword: 'a brand new passphrase 4711' },
    });
    expect(changed.statusCode, changed.body).toBe(204);
    expectProblem(await confirm(user.accessToken, token), 400, 'invalid_email_change_token');
    expect(await changeTokens(user.id)).toHaveLength(0);

    // The same after a reset by e-mail.
    const other = await registerAndLogin(t.app);
    const pending = await changeLink(other.accessToken, uniqueEmail('hijack'));
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/password/forgot',
          payload: { email: other.email },
        })
      ).statusCode,
    ).toBe(202);
    const reset = await lastLink(other.email, /Reset your/);
    const done = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/reset',
      payload: { token: reset.token, newPassword: 'a brand new passphrase 4711' },
    });
    expect(done.statusCode, done.body).toBe(204);
    const again = await login(t.app, other.email, 'a brand new passphrase 4711');
    expectProblem(await confirm(again.accessToken, pending), 400, 'invalid_email_change_token');
  });

  it('keeps a link dead once its account was disabled, also after it is enabled again', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const token = await changeLink(user.accessToken, uniqueEmail('parked'));
    await setDisabled(t.app, admin.accessToken, user.id, true);
    await setDisabled(t.app, admin.accessToken, user.id, false);
    const back = await login(t.app, user.email);
    expectProblem(await confirm(back.accessToken, token), 400, 'invalid_email_change_token');
    expect((await getMe(t.app, back.accessToken)).json()).toMatchObject({ email: user.email });
  });

  it('answers 401 without an access token', async () => {
    expectProblem(
      await requestChange(undefined, uniqueEmail('anon')),
      401,
      'authentication_required',
    );
    expectProblem(await confirm(undefined, 'A'.repeat(43)), 401, 'authentication_required');
  });
});

describe('without email.changeEmailUrl', () => {
  it('has no address change routes, in the API or its OpenAPI document', async () => {
    for (const input of [
      {},
      { email: { smtpUrl: smtp.url(), verifyEmailUrl: VERIFY_PAGE, timeoutMs: 2_000 } },
    ]) {
      const plain = await buildTestApp(input);
      try {
        const user = await registerAndLogin(plain.app);
        for (const url of ['/api/v1/auth/email/change', '/api/v1/auth/email/change/confirm']) {
          const res = await plain.app.inject({
            method: 'POST',
            url,
            headers: bearer(user.accessToken),
            payload: { newEmail: uniqueEmail(), password: STRONG_PASSWORD, token: 'A'.repeat(43) },
          });
          expectProblem(res, 404, 'not_found');
        }
        const doc = (await plain.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
          paths: Record<string, unknown>;
        }>();
        expect(Object.keys(doc.paths).filter((p) => p.includes('/email/change'))).toEqual([]);
      } finally {
        await plain.app.close();
      }
    }
  });
});
