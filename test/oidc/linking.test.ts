import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, registerAndLogin } from '../helpers/identity.js';
import { lastOutboxToken } from '../helpers/smtp.js';
import {
  deliverCallback,
  disableUser,
  events,
  lastFailure,
  oidcFixture,
  signIn,
  startSignIn,
  type OidcFixture,
} from './support.js';

/*
 * Account linking: a provider account (iss + sub) maps to one user. A first sign-in whose email
 * belongs to an existing account links to it only when the provider says the email is verified,
 * the provider's allowLinkingVerifiedEmail is on AND the account's own email is verified;
 * otherwise it is refused, so nobody takes over an account by registering its email, unverified,
 * at some provider, nor by registering it here and waiting for its owner to sign in.
 */

let strict: OidcFixture; // allowLinkingVerifiedEmail: false (the default)
let linking: OidcFixture; // allowLinkingVerifiedEmail: true, and sign-ups verified by e-mail
const outbox = mkdtempSync(join(tmpdir(), 'bulwark-linking-outbox-'));

beforeAll(async () => {
  strict = await oidcFixture([]);
  linking = await oidcFixture(
    [],
    { allowLinkingVerifiedEmail: true },
    { email: { outboxDir: outbox, verifyEmailUrl: 'https://app.example.com/verify-email' } },
  );
});
afterAll(async () => {
  await strict?.close();
  await linking?.close();
});

async function userCount(f: OidcFixture): Promise<number> {
  const rows = await f.testDb.db.kysely.selectFrom('users').select('id').execute();
  return rows.length;
}

async function identityCount(f: OidcFixture): Promise<number> {
  const rows = await f.testDb.db.kysely.selectFrom('identities').select('id').execute();
  return rows.length;
}

async function refusedSignIn(f: OidcFixture, sub: string, reason: string): Promise<void> {
  const [users, identities] = [await userCount(f), await identityCount(f)];
  const started = await startSignIn(f);
  const callback = await f.provider.authorize(started.location.href, sub);
  const res = await deliverCallback(f, callback, started.loginCookie);
  expect(res.statusCode, res.body).toBe(409);
  expect(res.json<{ code: string }>().code).toBe('oidc_link_refused');
  expect(res.headers.location).toBeUndefined();
  expect(lastFailure(f)).toBe(reason);
  expect(await userCount(f)).toBe(users);
  expect(await identityCount(f)).toBe(identities);
}

describe('linking a provider account to an existing user', () => {
  it('refuses an unverified email that belongs to an existing account, even where linking is allowed', async () => {
    for (const f of [strict, linking]) {
      const victim = await registerAndLogin(f.app);
      f.provider.account({
        sub: `mallory-${victim.id}`,
        email: victim.email,
        email_verified: false,
      });
      await refusedSignIn(f, `mallory-${victim.id}`, 'email_unverified');
      // Case and spacing games change nothing: the email is compared in canonical form.
      f.provider.account({
        sub: `mallory2-${victim.id}`,
        email: victim.email.toUpperCase(),
        email_verified: false,
      });
      await refusedSignIn(f, `mallory2-${victim.id}`, 'email_unverified');
      // A provider that does not say "verified" at all counts as unverified.
      f.provider.account({ sub: `mallory3-${victim.id}`, email: victim.email });
      await refusedSignIn(f, `mallory3-${victim.id}`, 'email_unverified');
    }
  });

  it('refuses a verified email of an existing account when linking is not enabled', async () => {
    const owner = await registerAndLogin(strict.app);
    strict.provider.account({ sub: 'owner-at-idp', email: owner.email, email_verified: true });
    await refusedSignIn(strict, 'owner-at-idp', 'linking_disabled');
  });

  it('refuses to link into an account whose own email was never verified (pre-account hijacking)', async () => {
    // Mallory registers the victim's address with a password of her own: sign-ups are not
    // verified. The victim later signs in with a provider that verified the address.
    const mallory = await registerAndLogin(linking.app, { email: 'victim@example.org' });
    linking.provider.account({
      sub: 'victim-at-idp',
      email: 'victim@example.org',
      email_verified: true,
    });
    await refusedSignIn(linking, 'victim-at-idp', 'account_email_unverified');
    // Mallory's password reaches an account with no identity of the victim's in it.
    const list = await linking.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/identities',
      headers: bearer(mallory.accessToken),
    });
    expect(list.json<{ items: unknown[] }>().items).toEqual([]);
  });

  it('links to a password account once its owner verified the address with the e-mailed link', async () => {
    const owner = await registerAndLogin(linking.app, { email: 'paula@example.org' });
    linking.provider.account({
      sub: 'paula-at-idp',
      email: 'paula@example.org',
      email_verified: true,
    });
    await refusedSignIn(linking, 'paula-at-idp', 'account_email_unverified');

    await linking.app.services.accountEmail!.idle();
    const token = lastOutboxToken(outbox, 'paula@example.org');
    const verify = await linking.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/verify',
      headers: bearer(owner.accessToken),
      payload: { token },
    });
    expect(verify.statusCode, verify.body).toBe(204);
    const signedIn = await signIn(linking, 'paula-at-idp');
    expect(signedIn.user.id).toBe(owner.id);
    expect(events(linking, 'oidc.identity_linked').at(-1)!.details).toEqual({
      provider: 'test',
      via: 'verified_email',
    });
  });

  it('never links a provider account to a disabled account: the refused sign-in leaves no identity behind', async () => {
    // Verified on both sides and linking allowed: everything but `disabled` says link.
    linking.provider.account({
      sub: 'dora-first',
      email: 'dora@example.org',
      email_verified: true,
    });
    const owner = await signIn(linking, 'dora-first');
    expect(owner.user.emailVerified).toBe(true);
    await disableUser(linking, owner.user.id);
    linking.provider.account({
      sub: 'dora-elsewhere',
      email: 'dora@example.org',
      email_verified: true,
    });
    const [identities, linked] = [
      await identityCount(linking),
      events(linking, 'oidc.identity_linked').length,
    ];
    const started = await startSignIn(linking);
    const callback = await linking.provider.authorize(started.location.href, 'dora-elsewhere');
    const res = await deliverCallback(linking, callback, started.loginCookie);
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('account_disabled');
    expect(lastFailure(linking)).toBe('disabled');
    // Enabling the account again must not bring a link made by a refused request with it.
    expect(await identityCount(linking)).toBe(identities);
    expect(events(linking, 'oidc.identity_linked')).toHaveLength(linked);
  });

  it("does not record a refused sign-in to a disabled account as the identity's last sign-in", async () => {
    strict.provider.account({
      sub: 'idle-disabled',
      email: 'idle@example.net',
      email_verified: true,
    });
    const signedIn = await signIn(strict, 'idle-disabled');
    const before = await strict.testDb.db.kysely
      .selectFrom('identities')
      .select('last_login_at')
      .where('subject', '=', 'idle-disabled')
      .executeTakeFirstOrThrow();
    await disableUser(strict, signedIn.user.id);
    strict.clock.offsetMs += 60_000;
    try {
      const started = await startSignIn(strict);
      const callback = await strict.provider.authorize(started.location.href, 'idle-disabled');
      const res = await deliverCallback(strict, callback, started.loginCookie);
      expect(res.json<{ code: string }>().code).toBe('account_disabled');
    } finally {
      strict.clock.offsetMs -= 60_000;
    }
    const after = await strict.testDb.db.kysely
      .selectFrom('identities')
      .select('last_login_at')
      .where('subject', '=', 'idle-disabled')
      .executeTakeFirstOrThrow();
    expect(after.last_login_at).toBe(before.last_login_at);
  });

  it('links a verified email to an existing account with a verified email when the provider allows it', async () => {
    // An account whose address a provider verified when it was created.
    linking.provider.account({
      sub: 'olivia-first',
      email: 'olivia@example.org',
      email_verified: true,
      name: 'Olivia Owner',
    });
    const owner = await signIn(linking, 'olivia-first');
    expect(owner.user.emailVerified).toBe(true);
    linking.provider.account({
      sub: 'olivia-at-idp',
      email: 'Olivia@example.org',
      email_verified: true,
      name: 'Someone Else',
    });
    const signedIn = await signIn(linking, 'olivia-at-idp');
    expect(signedIn.user.id).toBe(owner.user.id);
    // The existing account is not rewritten by the provider's claims.
    expect(signedIn.user.name).toBe('Olivia Owner');
    const linked = events(linking, 'oidc.identity_linked').at(-1)!;
    expect(linked.actorId).toBe(owner.user.id);
    expect(linked.details).toEqual({ provider: 'test', via: 'verified_email' });

    const list = await linking.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/identities',
      headers: bearer(owner.accessToken),
    });
    expect(list.json<{ items: { provider: string }[] }>().items).toHaveLength(2);
    // Later sign-ins find the identity by iss + sub, whatever the email has become.
    linking.provider.account({
      sub: 'olivia-at-idp',
      email: 'renamed@example.org',
      email_verified: true,
    });
    expect((await signIn(linking, 'olivia-at-idp')).user.id).toBe(owner.user.id);
  });

  it('creates a separate account for a new email, unverified if the provider says so', async () => {
    strict.provider.account({ sub: 'newbie', email: 'newbie@example.net', email_verified: false });
    const signedIn = await signIn(strict, 'newbie');
    expect(signedIn.user.email).toBe('newbie@example.net');
    expect(signedIn.user.emailVerified).toBe(false);
    // The name falls back to the email's local part.
    expect(signedIn.user.name).toBe('newbie');
  });

  it('refuses a first sign-in without an email (a new account needs one)', async () => {
    strict.provider.account({ sub: 'no-email' });
    const users = await userCount(strict);
    const started = await startSignIn(strict);
    const callback = await strict.provider.authorize(started.location.href, 'no-email');
    const res = await deliverCallback(strict, callback, started.loginCookie);
    expect(res.statusCode).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('oidc_email_required');
    expect(lastFailure(strict)).toBe('no_email');
    expect(await userCount(strict)).toBe(users);
  });

  it('refuses a sign-in to a disabled account', async () => {
    strict.provider.account({
      sub: 'to-disable',
      email: 'to-disable@example.net',
      email_verified: true,
    });
    const signedIn = await signIn(strict, 'to-disable');
    await disableUser(strict, signedIn.user.id);
    const started = await startSignIn(strict);
    const callback = await strict.provider.authorize(started.location.href, 'to-disable');
    const res = await deliverCallback(strict, callback, started.loginCookie);
    expect(res.statusCode).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('account_disabled');
    expect(lastFailure(strict)).toBe('disabled');
  });
});
