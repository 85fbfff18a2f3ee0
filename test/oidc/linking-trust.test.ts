import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { TestOidcProvider } from '../helpers/oidc-provider.js';
import { APP_URL, cookieValue, HANDOFF_COOKIE, LOGIN_COOKIE, PUBLIC_URL } from './support.js';

/*
 * Two providers of different trust: "partner" (linking off: its email_verified is not trusted)
 * and "google" (linking on). An account that the untrusted provider created must not count as
 * one whose address was proven, or the trusted provider's sign-in of the address's real owner
 * would be linked into it: pre-account hijacking through the provider nobody trusts to verify.
 */

const callbackPath = (name: string) => `/api/v1/auth/oidc/${name}/callback`;

let partner: TestOidcProvider;
let google: TestOidcProvider;
let t: TestApp;

beforeAll(async () => {
  partner = await TestOidcProvider.start({
    redirectUris: [`${PUBLIC_URL}${callbackPath('partner')}`],
    accounts: [],
  });
  google = await TestOidcProvider.start({
    redirectUris: [`${PUBLIC_URL}${callbackPath('google')}`],
    accounts: [],
  });
  const provider = (p: TestOidcProvider, name: string, allowLinkingVerifiedEmail: boolean) => ({
    issuer: p.issuer,
    clientId: p.clientId,
    clientSecret: p.clientSecret,
    redirectUri: `${PUBLIC_URL}${callbackPath(name)}`,
    appUrls: [APP_URL],
    allowLinkingVerifiedEmail,
  });
  t = await buildTestApp({
    oidc: {
      providers: {
        partner: provider(partner, 'partner', false),
        google: provider(google, 'google', true),
      },
    },
  });
});
afterAll(async () => {
  await t?.app.close();
  await partner?.stop();
  await google?.stop();
});

/** A whole sign-in at provider `name`; the callback's answer, and the user when it signed in. */
async function signInAt(name: string, p: TestOidcProvider, sub: string) {
  const start = await t.app.inject({ method: 'GET', url: `/api/v1/auth/oidc/${name}` });
  expect(start.statusCode, start.body).toBe(302);
  const login = cookieValue(start.headers, LOGIN_COOKIE);
  const callback = await p.authorize(start.headers.location as string, sub);
  const res = await t.app.inject({
    method: 'GET',
    url: `${callback.pathname}${callback.search}`,
    headers: { cookie: `${LOGIN_COOKIE}=${login}` },
  });
  if (res.statusCode !== 303) return { status: res.statusCode, code: res.json().code as string };
  const code = new URLSearchParams(new URL(res.headers.location as string).hash.slice(1)).get(
    'oidc_code',
  );
  const exchanged = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/oidc/exchange',
    payload: { code },
    headers: { cookie: `${HANDOFF_COOKIE}=${cookieValue(res.headers, HANDOFF_COOKIE)}` },
  });
  expect(exchanged.statusCode, exchanged.body).toBe(200);
  return {
    status: 303,
    user: exchanged.json<{ user: { id: string; emailVerified: boolean } }>().user,
  };
}

describe('linking across providers of different trust', () => {
  it('never links a trusted sign-in into an account an untrusted provider created', async () => {
    // The partner says the address is verified; nobody here trusts the partner to know.
    partner.account({ sub: 'mallory', email: 'victim@example.com', email_verified: true });
    const squatted = await signInAt('partner', partner, 'mallory');
    expect(squatted.status).toBe(303);
    expect(squatted.user?.emailVerified).toBe(false);

    // The address's owner signs in with the trusted provider: refused, not handed to mallory.
    google.account({ sub: 'victim', email: 'victim@example.com', email_verified: true });
    const victim = await signInAt('google', google, 'victim');
    expect(victim).toEqual({ status: 409, code: 'oidc_link_refused' });
    const rows = await t.testDb.db.kysely
      .selectFrom('identities')
      .select(['provider', 'subject'])
      .execute();
    expect(rows).toEqual([{ provider: 'partner', subject: 'mallory' }]);
  });

  it('still marks the address verified for an account the trusted provider created', async () => {
    google.account({ sub: 'alice', email: 'alice@example.com', email_verified: true });
    const alice = await signInAt('google', google, 'alice');
    expect(alice.user?.emailVerified).toBe(true);
  });
});
