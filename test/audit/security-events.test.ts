import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import type { AuditEventRow } from '../../src/db/index.js';
import { SECURITY_EVENT_TYPES } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { withoutRandomDigits } from '../helpers/leaks.js';
import { lastOutboxToken } from '../helpers/smtp.js';

// The clock the app sees; moved forward to step out of the refresh-token reuse grace window.
let offsetMs = 0;
const now = (): number => Date.now() + offsetMs;
const AGENT = 'audit-test-agent/1.0';
const PHONE = '+44 20 7946 0958';

let t: TestApp;
let admin: LoggedIn;
// Account e-mails are written here (their events are part of the catalog).
const outbox = mkdtempSync(join(tmpdir(), 'bulwark-events-outbox-'));

beforeAll(async () => {
  t = await buildTestApp(
    {
      email: {
        outboxDir: outbox,
        passwordResetUrl: 'https://app.example.com/reset',
        verifyEmailUrl: 'https://app.example.com/verify',
        changeEmailUrl: 'https://app.example.com/change-email',
      },
    },
    { now },
  );
  admin = await createUserAndLogin(t.app, 'admin');
});
afterAll(async () => {
  await t?.app.close();
});

/** Every stored event, oldest first, once the background writer has caught up. */
async function stored(): Promise<AuditEventRow[]> {
  await t.app.services.auditSink.flush();
  return (await t.app.services.auditLog.list({ limit: 1_000 })).reverse();
}

/** The stored events of one request (by its X-Request-Id). */
async function eventsOf(requestId: unknown): Promise<AuditEventRow[]> {
  expect(typeof requestId).toBe('string');
  return (await stored()).filter((e) => e.request_id === requestId);
}

async function call(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  options: { token?: string; payload?: object } = {},
) {
  const res = await t.app.inject({
    method,
    url,
    headers: {
      'user-agent': AGENT,
      ...(options.token === undefined ? {} : bearer(options.token)),
    },
    ...(options.payload === undefined ? {} : { payload: options.payload }),
  });
  return { res, events: await eventsOf(res.headers['x-request-id']) };
}

function expectContext(event: AuditEventRow | undefined): void {
  expect(event).toBeDefined();
  expect(event!.ip).toBe('127.0.0.1');
  expect(event!.user_agent).toBe(AGENT);
  expect(event!.time).toBeGreaterThan(Date.now() - 120_000);
  expect(event!.hash).toMatch(/^[0-9a-f]{64}$/);
}

describe('security events in the audit table, driven through the HTTP API', () => {
  it('user.created on registration, then login.succeeded and login.failed', async () => {
    const email = uniqueEmail('events');
    const reg = await call('POST', '/api/v1/auth/register', {
      payload: { email, password: STRONG_PASSWORD, name: 'Events' },
    });
    expect(reg.res.statusCode).toBe(201);
    const userId = reg.res.json<{ user: { id: string } }>().user.id;
    const [created] = reg.events;
    expectContext(created);
    expect(created).toMatchObject({
      type: 'user.created',
      outcome: 'success',
      actor_id: null,
      target_type: 'user',
      target_id: userId,
    });
    expect(JSON.parse(created!.details)).toEqual({ role: 'user', selfRegistered: true });

    const ok = await call('POST', '/api/v1/auth/login', {
      payload: { email, password: STRONG_PASSWORD },
    });
    expect(ok.res.statusCode).toBe(200);
    expect(ok.events).toHaveLength(1);
    expectContext(ok.events[0]);
    expect(ok.events[0]).toMatchObject({
      type: 'login.succeeded',
      outcome: 'success',
      actor_id: userId,
      target_type: 'session',
    });

    const bad = await call('POST', '/api/v1/auth/login', {
      payload: { email, password: 'not the password at all' },
    });
    expect(bad.res.statusCode).toBe(401);
    expect(bad.events).toHaveLength(1);
    expectContext(bad.events[0]);
    expect(bad.events[0]).toMatchObject({
      type: 'login.failed',
      outcome: 'failure',
      target_type: 'user',
      target_id: userId,
    });
    expect(JSON.parse(bad.events[0]!.details)).toHaveProperty('reason');
  });

  it('refresh.reused (and the session ending) when a rotated refresh token comes back', async () => {
    const user = await registerAndLogin(t.app);
    const first = await call('POST', '/api/v1/auth/refresh', {
      payload: { refreshToken: user.refreshToken },
    });
    expect(first.res.statusCode).toBe(200);
    offsetMs += 60_000; // past the reuse grace window
    const reuse = await call('POST', '/api/v1/auth/refresh', {
      payload: { refreshToken: user.refreshToken },
    });
    expect(reuse.res.statusCode).toBe(401);
    const types = reuse.events.map((e) => e.type);
    expect(types).toEqual(['refresh.reused', 'session.ended']);
    expectContext(reuse.events[0]);
    expect(reuse.events[0]).toMatchObject({
      outcome: 'denied',
      target_type: 'session',
      target_id: user.sessionId,
    });
    expect(JSON.parse(reuse.events[0]!.details)).toEqual({ userId: user.id });
    expect(JSON.parse(reuse.events[1]!.details)).toMatchObject({ reason: 'refresh_reuse' });
  });

  it('session.ended on logout', async () => {
    const user = await registerAndLogin(t.app);
    const out = await call('POST', '/api/v1/auth/logout', { token: user.accessToken });
    expect(out.res.statusCode).toBe(204);
    expect(out.events).toHaveLength(1);
    expectContext(out.events[0]);
    expect(out.events[0]).toMatchObject({
      type: 'session.ended',
      outcome: 'success',
      target_type: 'session',
      target_id: user.sessionId,
    });
    expect(JSON.parse(out.events[0]!.details)).toEqual({ reason: 'logout', userId: user.id });
  });

  it('password.changed, with no password in the record', async () => {
    const user = await registerAndLogin(t.app);
    const newPassword = 'an entirely new passphrase 77';
    const res = await call('POST', '/api/v1/auth/password', {
      token: user.accessToken,
      payload: { currentPassword: STRONG_PASSWORD, newPassword },
    });
    expect(res.res.statusCode).toBe(204);
    const changed = res.events.find((e) => e.type === 'password.changed');
    expectContext(changed);
    expect(changed).toMatchObject({ outcome: 'success', actor_id: user.id, target_id: user.id });
    expect(JSON.stringify(res.events)).not.toContain(newPassword);
    expect(JSON.stringify(res.events)).not.toContain(STRONG_PASSWORD);
  });

  it('password.reset and its session.ended, with no password in the record', async () => {
    // No request behind it: `bulwark user set-password` (test/cli/commands.test.ts runs it).
    const user = await registerAndLogin(t.app);
    const newPassword = 'an operator set this passphrase 78';
    const requestId = randomUUID();
    await t.app.services.users.setPassword(
      user.id,
      newPassword,
      { userAgent: 'bulwark-cli', requestId },
      { details: { via: 'cli' } },
    );
    const events = await eventsOf(requestId);
    expect(events.map((e) => [e.type, e.outcome, e.actor_id, e.target_id])).toEqual([
      ['password.reset', 'success', null, user.id],
      ['session.ended', 'success', null, user.id],
    ]);
    expect(JSON.parse(events[0]!.details)).toEqual({ via: 'cli' });
    expect(JSON.parse(events[1]!.details)).toEqual({ reason: 'password_reset', sessions: 1 });
    expect(JSON.stringify(events)).not.toContain(newPassword);
  });

  it('the account e-mail events, with no token in the record', async () => {
    const email = uniqueEmail('mail-events');
    const reg = await call('POST', '/api/v1/auth/register', {
      payload: { email, password: STRONG_PASSWORD, name: 'Mail Events' },
    });
    expect(reg.res.statusCode).toBe(201);
    const userId = reg.res.json<{ user: { id: string } }>().user.id;
    await t.app.services.accountEmail!.idle();
    const sent = await eventsOf(reg.res.headers['x-request-id']);
    expect(sent.map((e) => [e.type, e.outcome, e.target_id])).toEqual([
      ['user.created', 'success', userId],
      ['email.verification_sent', 'success', userId],
    ]);
    const token = lastOutboxToken(outbox, email);
    const session = await login(t.app, email);

    const verify = await call('POST', '/api/v1/auth/email/verify', {
      token: session.accessToken,
      payload: { token },
    });
    expect(verify.res.statusCode).toBe(204);
    expectContext(verify.events[0]);
    expect(verify.events.map((e) => [e.type, e.outcome, e.actor_id, e.target_id])).toEqual([
      ['email.verified', 'success', userId, userId],
    ]);

    const forgot = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/forgot',
      headers: { 'user-agent': AGENT },
      payload: { email: uniqueEmail('nobody') },
    });
    expect(forgot.statusCode).toBe(202);
    await t.app.services.accountEmail!.idle();
    const requested = await eventsOf(forgot.headers['x-request-id']);
    expectContext(requested[0]);
    expect(requested.map((e) => [e.type, e.outcome, e.target_id])).toEqual([
      ['password.reset_requested', 'failure', null],
    ]);
    expect(JSON.parse(requested[0]!.details)).toEqual({ reason: 'unknown_email' });
    expect(JSON.stringify(await stored())).not.toContain(token);
  });

  it('the e-mail change events, with no token or address in the record', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('events-moved');
    const wrong = await call('POST', '/api/v1/auth/email/change', {
      token: user.accessToken,
      payload: { newEmail, password: 'not the password' },
    });
    expect(wrong.res.statusCode).toBe(401);
    expectContext(wrong.events[0]);
    expect(wrong.events.map((e) => [e.type, e.outcome, e.actor_id, e.target_id])).toEqual([
      ['email.change_requested', 'failure', user.id, user.id],
    ]);
    expect(JSON.parse(wrong.events[0]!.details)).toEqual({ reason: 'wrong_password' });

    const asked = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/change',
      headers: { 'user-agent': AGENT, ...bearer(user.accessToken) },
      payload: { newEmail, password: STRONG_PASSWORD },
    });
    expect(asked.statusCode).toBe(202);
    await t.app.services.accountEmail!.idle();
    const requested = await eventsOf(asked.headers['x-request-id']);
    expectContext(requested[0]);
    expect(requested.map((e) => [e.type, e.outcome, e.actor_id, e.target_id])).toEqual([
      ['email.change_requested', 'success', user.id, user.id],
    ]);
    const token = lastOutboxToken(outbox, newEmail);

    const other = await login(t.app, user.email);
    const done = await call('POST', '/api/v1/auth/email/change/confirm', {
      token: user.accessToken,
      payload: { token },
    });
    expect(done.res.statusCode).toBe(204);
    expectContext(done.events[0]);
    expect(done.events.map((e) => [e.type, e.outcome, e.actor_id, e.target_id])).toEqual([
      ['email.changed', 'success', user.id, user.id],
      ['session.ended', 'success', user.id, user.id],
    ]);
    expect(JSON.parse(done.events[1]!.details)).toEqual({ reason: 'email_changed', sessions: 1 });
    const again = await call('POST', '/api/v1/auth/email/change/confirm', {
      token: other.accessToken,
      payload: { token },
    });
    expect(again.res.statusCode).toBe(401);
    const all = JSON.stringify(await stored());
    expect(all).not.toContain(token);
    expect(all).not.toContain(newEmail);
  });

  it('the MFA events, with no secret, code or recovery code in the record', async () => {
    const user = await registerAndLogin(t.app);
    const setup = await call('POST', '/api/v1/auth/mfa/totp/setup', {
      token: user.accessToken,
      payload: { password: STRONG_PASSWORD },
    });
    const { secret } = setup.res.json<{ secret: string }>();
    const confirm = await call('POST', '/api/v1/auth/mfa/totp/confirm', {
      token: user.accessToken,
      payload: { mfaCode: totpCode(secret, now()) },
    });
    const { recoveryCodes } = confirm.res.json<{ recoveryCodes: string[] }>();
    const login = (mfaCode?: string) =>
      call('POST', '/api/v1/auth/login', {
        payload: { email: user.email, password: STRONG_PASSWORD, ...(mfaCode ? { mfaCode } : {}) },
      });
    const next = totpCode(secret, now() + 30_000);
    const steps = [
      confirm,
      await login(),
      await login(next),
      await login(next),
      await login(recoveryCodes[0]),
      await call('POST', '/api/v1/auth/mfa/recovery-codes', {
        token: user.accessToken,
        payload: { password: STRONG_PASSWORD, mfaCode: recoveryCodes[1] },
      }),
    ];
    const fresh = steps[5]!.res.json<{ recoveryCodes: string[] }>().recoveryCodes;
    steps.push(
      await call('POST', '/api/v1/auth/mfa/disable', {
        token: user.accessToken,
        payload: { password: STRONG_PASSWORD, mfaCode: fresh[0] },
      }),
    );
    const seen = steps.map(({ events }) =>
      events.map((e) => [e.type, e.outcome, JSON.parse(e.details) as Record<string, unknown>]),
    );
    expect(seen).toEqual([
      [['mfa.enabled', 'success', {}]],
      [['mfa.challenged', 'success', {}]],
      [['login.succeeded', 'success', {}]],
      [['login.failed', 'failure', { reason: 'mfa_code_replayed' }]],
      [
        ['mfa.recovery_code_used', 'success', { remaining: 9 }],
        ['login.succeeded', 'success', {}],
      ],
      [
        ['mfa.recovery_code_used', 'success', { remaining: 8 }],
        ['mfa.recovery_codes_regenerated', 'success', {}],
      ],
      [
        ['mfa.recovery_code_used', 'success', { remaining: 9 }],
        ['mfa.disabled', 'success', { by: 'self' }],
      ],
    ]);
    for (const { events } of steps) {
      for (const event of events) {
        expectContext(event);
        // A sign-in's event targets its new session, and names the user as the actor.
        expect(event.target_type === 'session' ? event.actor_id : event.target_id).toBe(user.id);
      }
    }
    // Without the ids, hashes and times: their hex and digits hold a given 6-digit code by
    // chance (this file's rows held about 1 in 3 000 of all codes), a leak would be elsewhere.
    const all = withoutRandomDigits(JSON.stringify(await stored()));
    for (const value of [secret, next, ...recoveryCodes, ...fresh]) {
      expect(all).not.toContain(value);
    }
  });

  it('user.updated on PATCH /users/me names the changed fields, never their values', async () => {
    const user = await registerAndLogin(t.app);
    const res = await call('PATCH', '/api/v1/users/me', {
      token: user.accessToken,
      payload: { name: 'Renamed', phone: PHONE },
    });
    expect(res.res.statusCode).toBe(200);
    expect(res.events).toHaveLength(1);
    expectContext(res.events[0]);
    expect(res.events[0]).toMatchObject({
      type: 'user.updated',
      actor_id: user.id,
      target_type: 'user',
      target_id: user.id,
    });
    expect(JSON.parse(res.events[0]!.details)).toEqual({ fields: ['name', 'phone'] });
    expect(JSON.stringify(res.events)).not.toContain(PHONE);
    expect(JSON.stringify(res.events)).not.toContain('Renamed');
  });

  it('user.role_changed, user.disabled and user.deleted by an admin', async () => {
    const user = await registerAndLogin(t.app);
    const role = await call('PATCH', `/api/v1/users/${user.id}`, {
      token: admin.accessToken,
      payload: { role: 'admin' },
    });
    expect(role.res.statusCode).toBe(200);
    const changed = role.events.find((e) => e.type === 'user.role_changed');
    expectContext(changed);
    expect(changed).toMatchObject({ actor_id: admin.id, target_id: user.id, outcome: 'success' });
    expect(JSON.parse(changed!.details)).toEqual({ from: 'user', to: 'admin' });

    const disable = await call('PATCH', `/api/v1/users/${user.id}`, {
      token: admin.accessToken,
      payload: { disabled: true },
    });
    expect(disable.res.statusCode).toBe(200);
    const disabled = disable.events.find((e) => e.type === 'user.disabled');
    expectContext(disabled);
    expect(disabled).toMatchObject({ actor_id: admin.id, target_id: user.id });
    expect(JSON.parse(disabled!.details)).toEqual({ disabled: true });

    const del = await call('DELETE', `/api/v1/users/${user.id}`, { token: admin.accessToken });
    expect(del.res.statusCode).toBe(204);
    const deleted = del.events.find((e) => e.type === 'user.deleted');
    expectContext(deleted);
    expect(deleted).toMatchObject({ actor_id: admin.id, target_type: 'user', target_id: user.id });
  });

  it('access.denied for a BOLA attempt (404) and a BFLA attempt (403)', async () => {
    const mallory = await registerAndLogin(t.app);
    const victim = await registerAndLogin(t.app);
    const bola = await call('GET', `/api/v1/users/${victim.id}`, { token: mallory.accessToken });
    expect(bola.res.statusCode).toBe(404);
    expect(bola.events).toHaveLength(1);
    expectContext(bola.events[0]);
    expect(bola.events[0]).toMatchObject({
      type: 'access.denied',
      outcome: 'denied',
      actor_id: mallory.id,
      target_id: victim.id,
    });
    expect(JSON.parse(bola.events[0]!.details)).toMatchObject({ status: 404 });

    const bfla = await call('GET', '/api/v1/admin/audit-events', { token: mallory.accessToken });
    expect(bfla.res.statusCode).toBe(403);
    expect(bfla.events).toHaveLength(1);
    expectContext(bfla.events[0]);
    expect(bfla.events[0]).toMatchObject({ type: 'access.denied', actor_id: mallory.id });
    expect(JSON.parse(bfla.events[0]!.details)).toMatchObject({
      status: 403,
      permission: 'audit:read',
    });
  });

  it('token.invalid for a forged bearer token, without the token in the record', async () => {
    const forged = `eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.${randomUUID()}`;
    const res = await call('GET', '/api/v1/users/me', { token: forged });
    expect(res.res.statusCode).toBe(401);
    expect(res.events).toHaveLength(1);
    expectContext(res.events[0]);
    expect(res.events[0]).toMatchObject({ type: 'token.invalid', outcome: 'denied' });
    expect(JSON.stringify(res.events)).not.toContain(forged);
  });

  it('keys.rotated when the signing key is rotated', async () => {
    const before = t.app.services.signingKeys.signingKey().kid;
    const { kid, signsFrom } = await t.app.services.signingKeys.rotate({ actorId: admin.id });
    const rotated = (await stored()).filter((e) => e.type === 'keys.rotated');
    expect(rotated).toHaveLength(1);
    expect(rotated[0]).toMatchObject({
      outcome: 'success',
      actor_id: admin.id,
      target_type: 'signing_key',
      target_id: kid,
    });
    expect(JSON.parse(rotated[0]!.details)).toEqual({
      algorithm: 'EdDSA',
      retired: before,
      signsFrom,
    });
  });

  it('records the events other capabilities emit (throttling, rate limits)', async () => {
    const requestId = randomUUID();
    const context = { ip: '198.51.100.7', userAgent: AGENT, requestId };
    const events = t.app.services.events;
    events.emit({
      ...context,
      type: 'login.throttled',
      outcome: 'denied',
      details: { retryAfterSeconds: 30 },
    });
    events.emit({
      ...context,
      type: 'rate_limit.exceeded',
      outcome: 'denied',
      details: { policy: 'auth' },
    });
    const mine = await eventsOf(requestId);
    expect(mine.map((e) => [e.type, e.outcome, e.ip])).toEqual([
      ['login.throttled', 'denied', '198.51.100.7'],
      ['rate_limit.exceeded', 'denied', '198.51.100.7'],
    ]);
  });

  it('records the key-management events the CLI emits (rotate-master, reencrypt)', async () => {
    // The commands themselves are run as processes in test/cli/keys-master.test.ts, which checks
    // their rows; here the same events go through this app's sinks for the catalog check below.
    const events = t.app.services.events;
    events.emit({
      type: 'keys.master_rotated',
      outcome: 'success',
      details: { previousVersion: 1, newVersion: 2, source: 'key_file', installed: true },
    });
    events.emit({
      type: 'keys.reencrypted',
      outcome: 'success',
      details: { keyVersion: 2, examined: 3, reencrypted: 3, unreadable: 0 },
    });
    const rows = (await stored()).filter((e) => e.type.startsWith('keys.'));
    expect(rows.map((e) => [e.type, e.actor_id, e.target_type])).toEqual([
      ['keys.rotated', admin.id, 'signing_key'],
      ['keys.master_rotated', null, null],
      ['keys.reencrypted', null, null],
    ]);
  });

  it('records the OIDC sign-in events', async () => {
    // test/oidc/* drives each of these through the real flow against oidc-provider on loopback and
    // checks their details; here the same types go through this app's sinks into the hash chain.
    const events = t.app.services.events;
    const context = { ip: '198.51.100.9', userAgent: AGENT, requestId: randomUUID() };
    const target = { type: 'user', id: admin.id };
    const oidc = [
      ['oidc.login_started', 'success', { provider: 'corp' }],
      ['oidc.login_failed', 'failure', { provider: 'corp', reason: 'state_mismatch' }],
      ['oidc.login_succeeded', 'success', { provider: 'corp' }],
      ['oidc.identity_linked', 'success', { provider: 'corp', via: 'verified_email' }],
      ['oidc.code_rejected', 'denied', { reason: 'replayed' }],
      ['oidc.code_exchanged', 'success', {}],
      ['oidc.identity_unlinked', 'success', { provider: 'corp' }],
    ] as const;
    for (const [type, outcome, details] of oidc) {
      events.emit({ ...context, type, outcome, actorId: admin.id, target, details });
    }
    const rows = await eventsOf(context.requestId);
    expect(rows.map((e) => [e.type, e.outcome, e.actor_id])).toEqual(
      oidc.map(([type, outcome]) => [type, outcome, admin.id]),
    );
  });

  it('config.unsafe_override at start for each weakened default', async () => {
    const weak = await buildTestApp({
      cors: { origins: ['*'] },
      metrics: { port: 0 },
    });
    try {
      await weak.app.services.auditSink.flush();
      const rows = await weak.app.services.auditLog.list({
        limit: 100,
        type: 'config.unsafe_override',
      });
      expect(
        rows.map((r) => (JSON.parse(r.details) as { setting: string }).setting).sort(),
      ).toEqual(['cors.origins', 'metrics.port']);
      // Copied here so the catalog check below sees the type in this app's table too.
      t.app.services.events.emit({
        type: 'config.unsafe_override',
        outcome: 'success',
        details: { setting: 'cors.origins', reason: 'test' },
      });
    } finally {
      await weak.app.close();
    }
  });

  it('has stored every type of the catalog, and the chain verifies', async () => {
    // audit.pruned is appended by AuditLog.prune itself (test/audit/audit-log.test.ts), which
    // would delete this file's events; its type is stored here the ordinary way.
    t.app.services.events.emit({
      type: 'audit.pruned',
      outcome: 'success',
      details: { checkpointSeq: 0, checkpointHash: '0'.repeat(64), rowsPruned: 0, before: 0 },
    });
    await t.app.services.auditSink.flush();
    const types = new Set((await stored()).map((e) => e.type));
    expect([...SECURITY_EVENT_TYPES].filter((type) => !types.has(type))).toEqual([]);
    await expect(t.app.services.auditLog.verify()).resolves.toMatchObject({ ok: true });
  });

  it('never stores a password, token or secret', async () => {
    const all = JSON.stringify(await stored());
    expect(all).not.toContain(STRONG_PASSWORD);
    expect(all).not.toContain(admin.accessToken);
    expect(all).not.toContain(admin.refreshToken);
    expect(all).not.toMatch(/\$argon2/);
  });
});

describe('an audit store failure', () => {
  it('never fails the request: the event goes to the log loudly and is counted', async () => {
    const local = await buildTestApp();
    try {
      const user = await registerAndLogin(local.app);
      await local.app.services.auditSink.flush();
      await sql`drop table audit_events`.execute(local.app.services.db.kysely);

      const res = await local.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: STRONG_PASSWORD },
      });
      expect(res.statusCode).toBe(200);
      await local.app.services.auditSink.flush();

      const failed = local.logs.lines.filter((l) => String(l.msg).startsWith('AUDIT WRITE FAILED'));
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed[0]).toMatchObject({
        level: 'error',
        securityEvent: { type: 'login.succeeded', requestId: res.headers['x-request-id'] },
      });
      const metric = await local.app.services.metrics.auditWriteFailures.get();
      expect(metric.values[0]!.value).toBeGreaterThanOrEqual(1);

      // And the service keeps answering.
      const me = await local.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: bearer(res.json<{ accessToken: string }>().accessToken),
      });
      expect(me.statusCode).toBe(200);
    } finally {
      await local.app.close();
    }
  });
});
