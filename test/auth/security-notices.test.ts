import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
} from '../helpers/identity.js';
import { enrolMfa, postMfa, STEP_MS, wrongCode } from '../helpers/mfa.js';
import { outboxMails } from '../helpers/smtp.js';
import {
  HANDOFF_COOKIE,
  oidcFixture,
  signIn,
  signInToHandoff,
  type OidcFixture,
  verifiedPasswordUser,
} from '../oidc/support.js';
import { totpCode } from '../../src/crypto/index.js';

/*
 * OWASP ASVS (V2.2.3 in 4.0, V6.3.7 in 5.0): the owner is told when how their account signs in
 * changes. Whoever hijacks a session and knows the password can turn MFA on (locking the owner
 * out), off, or make new recovery codes; a provider account with the same verified address can
 * become a way in. Each success e-mails the account's address; a refused attempt does not, and
 * no notice carries a secret.
 */

const outbox = mkdtempSync(join(tmpdir(), 'bulwark-notices-'));
let clock = Date.UTC(2026, 5, 1, 12, 0, 0);
let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({ email: { outboxDir: outbox } }, { now: () => clock });
});
afterAll(async () => {
  await t.app.close();
  rmSync(outbox, { recursive: true, force: true });
});

/** The notices e-mailed to `address` so far, once every queued e-mail is written. */
async function mailsTo(address: string, dir = outbox, app = t.app) {
  await app.services.accountEmail!.idle();
  return outboxMails(dir).filter((m) => m.to.includes(address));
}

describe('MFA changes', () => {
  it('turning MFA on, new recovery codes and turning it off each tell the owner', async () => {
    const user = await registerAndLogin(t.app);
    const { secret, recoveryCodes } = await enrolMfa(t.app, user.accessToken, clock);
    let mails = await mailsTo(user.email);
    expect(mails.map((m) => m.header('subject'))).toEqual([
      'Two-step sign-in was turned on for your bulwark account',
    ]);
    expect(mails[0]!.text).toContain(`your account ${user.email} at bulwark`);
    expect(mails[0]!.text).toContain('other sessions were signed out');

    clock += 2 * STEP_MS;
    const regenerated = await postMfa(t.app, '/recovery-codes', user.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(secret, clock),
    });
    expect(regenerated.statusCode, regenerated.body).toBe(200);
    const fresh = regenerated.json<{ recoveryCodes: string[] }>().recoveryCodes;
    mails = await mailsTo(user.email);
    expect(mails.at(-1)!.header('subject')).toBe('New recovery codes for your bulwark account');
    expect(mails.at(-1)!.text).toContain('the earlier ones no longer work');

    clock += 2 * STEP_MS;
    const off = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/disable',
      headers: bearer(user.accessToken),
      payload: { password: STRONG_PASSWORD, mfaCode: totpCode(secret, clock) },
    });
    expect(off.statusCode, off.body).toBe(204);
    mails = await mailsTo(user.email);
    expect(mails.map((m) => m.header('subject'))).toEqual([
      'Two-step sign-in was turned on for your bulwark account',
      'New recovery codes for your bulwark account',
      'Two-step sign-in was turned off for your bulwark account',
    ]);
    expect(mails.at(-1)!.text).toContain('a password alone signs in to it now');
    // No secret in any of them: not the TOTP secret, a code, or a recovery code.
    const all = mails.map((m) => m.raw).join('\n');
    for (const secretText of [secret, ...recoveryCodes, ...fresh, STRONG_PASSWORD]) {
      expect(all).not.toContain(secretText);
    }
  });

  it('a refused change sends nothing', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrolMfa(t.app, user.accessToken, clock);
    const before = (await mailsTo(user.email)).length;
    clock += 2 * STEP_MS;
    const off = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/disable',
      headers: bearer(user.accessToken),
      payload: { password: STRONG_PASSWORD, mfaCode: wrongCode(secret, clock) },
    });
    expect(off.statusCode).toBe(401);
    const codes = await postMfa(t.app, '/recovery-codes', user.accessToken, {
      password: 'not the password at all 9',
      mfaCode: totpCode(secret, clock),
    });
    expect(codes.statusCode).toBe(401);
    expect(await mailsTo(user.email)).toHaveLength(before);
  });

  it("an administrator's reset tells the owner, and a reset of MFA that is off sends nothing", async () => {
    const user = await registerAndLogin(t.app);
    await enrolMfa(t.app, user.accessToken, clock);
    expect(await t.app.services.mfa.reset(user.id, { actorId: null })).toBe(true);
    const mails = await mailsTo(user.email);
    expect(mails.at(-1)!.header('subject')).toBe(
      'An administrator turned off two-step sign-in for your bulwark account',
    );
    expect(mails.at(-1)!.text).toContain('signed out all its sessions');
    expect(await t.app.services.mfa.reset(user.id, { actorId: null })).toBe(false);
    expect(await mailsTo(user.email)).toHaveLength(mails.length);
  });
});

describe('sign-ins from a new network', () => {
  function loginFrom(email: string, remoteAddress: string) {
    return t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password: STRONG_PASSWORD },
      remoteAddress,
    });
  }

  it("tell the owner once per network, never on a new account's first sign-in", async () => {
    const email = uniqueEmail('roaming');
    const registered = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email, password: STRONG_PASSWORD, name: 'Roaming User' },
      remoteAddress: '198.51.100.7',
    });
    expect(registered.statusCode).toBe(201);
    // First sign-in, then again from the same network (another address in its /24): no news.
    expect((await loginFrom(email, '198.51.100.7')).statusCode).toBe(200);
    expect((await loginFrom(email, '198.51.100.200')).statusCode).toBe(200);
    expect(await mailsTo(email)).toEqual([]);

    const at = clock;
    expect((await loginFrom(email, '203.0.113.9')).statusCode).toBe(200);
    let mails = await mailsTo(email);
    expect(mails.map((m) => m.header('subject'))).toEqual(['New sign-in to your bulwark account']);
    expect(mails[0]!.text).toContain(
      `Your account ${email} at bulwark was signed in to on ${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC from 203.0.113.9, a network it had not been signed in from before.`,
    );
    // Known now; and IPv6 by its /48: a second address of the same site is no news.
    expect((await loginFrom(email, '203.0.113.10')).statusCode).toBe(200);
    expect((await loginFrom(email, '2001:db8:7:1::1')).statusCode).toBe(200);
    expect((await loginFrom(email, '2001:db8:7:2::99')).statusCode).toBe(200);
    mails = await mailsTo(email);
    expect(mails).toHaveLength(2);
    expect(mails[1]!.text).toContain('from 2001:db8:7:1::1,');
  });

  it('tell the owner of the first sign-in to a dormant account', async () => {
    const email = uniqueEmail('dormant');
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email, password: STRONG_PASSWORD, name: 'Dormant User' },
    });
    // No session kept for longer than the retention (30 days by default): nothing is known.
    clock += (t.config.tokens.sessionRetentionSeconds + 60) * 1000;
    expect((await loginFrom(email, '192.0.2.44')).statusCode).toBe(200);
    expect((await mailsTo(email)).map((m) => m.header('subject'))).toEqual([
      'New sign-in to your bulwark account',
    ]);
  });

  it('a failed sign-in from a new network sends nothing', async () => {
    const user = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: 'not the password at all 9' },
      remoteAddress: '203.0.113.77',
    });
    expect(res.statusCode).toBe(401);
    expect(await mailsTo(user.email)).toEqual([]);
  });

  it('are off with email.newSignInNotices false', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-notices-off-'));
    const quiet = await buildTestApp({ email: { outboxDir: dir, newSignInNotices: false } });
    try {
      const user = await registerAndLogin(quiet.app);
      const res = await quiet.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: STRONG_PASSWORD },
        remoteAddress: '203.0.113.5',
      });
      expect(res.statusCode).toBe(200);
      expect(await mailsTo(user.email, dir, quiet.app)).toEqual([]);
    } finally {
      await quiet.app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('account deletion', () => {
  it('tells the owner, saying whether an administrator did it', async () => {
    const self = await registerAndLogin(t.app);
    const gone = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${self.id}`,
      headers: bearer(self.accessToken),
    });
    expect(gone.statusCode).toBe(204);
    const [own] = await mailsTo(self.email);
    expect(own!.header('subject')).toBe('Your bulwark account was deleted');
    expect(own!.text).toContain(`Your account ${self.email} at bulwark was deleted, and all`);
    expect(own!.text).toContain('someone signed in to your account recently');

    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const removed = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(admin.accessToken),
    });
    expect(removed.statusCode).toBe(204);
    const [byAdmin] = await mailsTo(user.email);
    expect(byAdmin!.text).toContain('was deleted by an administrator');
    expect(await mailsTo(admin.email)).toEqual([]);
  });

  it('a refused deletion sends nothing', async () => {
    const user = await registerAndLogin(t.app);
    const other = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${other.id}`,
      headers: bearer(user.accessToken),
    });
    expect(res.statusCode).toBe(404);
    expect(await mailsTo(other.email)).toEqual([]);
  });
});

describe('linked sign-ins', () => {
  const oidcOutbox = mkdtempSync(join(tmpdir(), 'bulwark-notices-oidc-'));
  let f: OidcFixture;
  beforeAll(async () => {
    f = await oidcFixture(
      [],
      { allowLinkingVerifiedEmail: true },
      { email: { outboxDir: oidcOutbox } },
    );
  });
  afterAll(async () => {
    await f?.close();
    rmSync(oidcOutbox, { recursive: true, force: true });
  });

  it('a provider account linked to an existing account, and its removal, tell the owner', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'notice-link', email: owner.email, email_verified: true });
    expect((await signIn(f, 'notice-link')).user.id).toBe(owner.id);
    let mails = await mailsTo(owner.email, oidcOutbox, f.app);
    expect(mails.map((m) => m.header('subject'))).toEqual([
      'Your bulwark account can now be signed in to with test',
    ]);
    expect(mails[0]!.text).toContain('remove the test sign-in from your account');
    // Signing in again through the same identity is no news.
    await signIn(f, 'notice-link');
    expect(await mailsTo(owner.email, oidcOutbox, f.app)).toHaveLength(1);

    const listed = await f.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/identities',
      headers: bearer(owner.accessToken),
    });
    const [identity] = listed.json<{ items: { id: string }[] }>().items;
    const unlinked = await f.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/me/identities/${identity!.id}`,
      headers: bearer(owner.accessToken),
    });
    expect(unlinked.statusCode).toBe(204);
    mails = await mailsTo(owner.email, oidcOutbox, f.app);
    expect(mails.at(-1)!.header('subject')).toBe(
      'test sign-in was removed from your bulwark account',
    );
  });

  it('a provider sign-in from a new network tells the owner', async () => {
    f.provider.account({
      sub: 'notice-roam',
      email: 'notice-roam@example.com',
      email_verified: true,
    });
    await signIn(f, 'notice-roam');
    const handoff = await signInToHandoff(f, 'notice-roam');
    const res = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/oidc/exchange',
      payload: { code: handoff.code },
      headers: { cookie: `${HANDOFF_COOKIE}=${handoff.browserSecret}` },
      remoteAddress: '203.0.113.61',
    });
    expect(res.statusCode, res.body).toBe(200);
    const mails = await mailsTo('notice-roam@example.com', oidcOutbox, f.app);
    expect(mails.map((m) => m.header('subject'))).toEqual(['New sign-in to your bulwark account']);
    expect(mails[0]!.text).toContain('from 203.0.113.61,');
  });

  it('an account created by a first provider sign-in gets no notice', async () => {
    f.provider.account({
      sub: 'notice-new',
      email: 'notice-new@example.com',
      email_verified: true,
    });
    await signIn(f, 'notice-new');
    expect(await mailsTo('notice-new@example.com', oidcOutbox, f.app)).toEqual([]);
  });
});
