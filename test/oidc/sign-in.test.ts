import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/identity.js';
import { expectNoRowLeak, expectUser } from '../helpers/users.js';
import {
  APP_URL,
  CALLBACK_PATH,
  events,
  exchange,
  oidcFixture,
  OTHER_APP_URL,
  PUBLIC_URL,
  setCookies,
  signIn,
  signInToHandoff,
  startSignIn,
  type OidcFixture,
} from './support.js';

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([
    { sub: 'alice-sub', email: 'Alice@Example.com', email_verified: true, name: 'Alice Example' },
  ]);
});
afterAll(async () => {
  await f.close();
});

describe('sign in with an OpenID Connect provider', () => {
  it('starts the code flow with PKCE S256, state and nonce, in a sealed cookie', async () => {
    const res = await f.app.inject({ method: 'GET', url: '/api/v1/auth/oidc/test' });
    expect(res.statusCode).toBe(302);
    const location = new URL(res.headers.location as string);
    expect(location.origin).toBe(f.provider.issuer);
    const q = location.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe(f.provider.clientId);
    expect(q.get('redirect_uri')).toBe(`${PUBLIC_URL}${CALLBACK_PATH}`);
    expect(q.get('scope')).toBe('openid email profile');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [cookie] = setCookies(res.headers);
    expect(cookie).toMatch(/^__Host-bulwark-oidc-login=bwf1\./);
    const attributes = cookie!.split('; ').slice(1);
    expect(attributes).toEqual(['Path=/', 'Max-Age=600', 'HttpOnly', 'SameSite=Lax', 'Secure']);
    // Sealed: neither the state nor the nonce can be read from the cookie.
    expect(cookie).not.toContain(q.get('state'));
    expect(cookie).not.toContain(q.get('nonce'));
  });

  it('creates a user on first sign-in and hands over a working token pair through a one-time code', async () => {
    const handoff = await signInToHandoff(f, 'alice-sub');
    expect(`${handoff.location.origin}${handoff.location.pathname}`).toBe(APP_URL);
    // Never a token in the URL: only the one-time code, in the fragment.
    expect(handoff.location.search).toBe('');
    expect([...new URLSearchParams(handoff.location.hash.slice(1)).keys()]).toEqual(['oidc_code']);

    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.statusCode, res.body).toBe(200);
    expectNoRowLeak(res.body);
    const body = res.json<{ accessToken: string; refreshToken: string; user: unknown }>();
    const user = expectUser(body.user);
    expect(user.email).toBe('alice@example.com');
    // The provider says verified, but it is not trusted to verify addresses (linking off, the
    // default): see linking-trust.test.ts.
    expect(user.emailVerified).toBe(false);
    expect(user.name).toBe('Alice Example');
    expect(setCookies(res.headers)).toEqual([
      '__Host-bulwark-oidc-handoff=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
    ]);

    const me = await f.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(body.accessToken),
    });
    expect(me.statusCode).toBe(200);
    expect(me.json<{ id: string }>().id).toBe(user.id);
    const refreshed = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: body.refreshToken },
    });
    expect(refreshed.statusCode).toBe(200);

    // No password: the account cannot be entered with one.
    const login = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'alice@example.com', password: 'correct horse battery staple 42' },
    });
    expect(login.statusCode).toBe(401);

    const identities = await f.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/identities',
      headers: bearer(body.accessToken),
    });
    expect(identities.statusCode).toBe(200);
    const items = identities.json<{ items: Record<string, unknown>[] }>().items;
    expect(items).toHaveLength(1);
    expect(Object.keys(items[0]!).sort()).toEqual([
      'createdAt',
      'email',
      'id',
      'issuer',
      'lastLoginAt',
      'provider',
    ]);
    expect(items[0]).toMatchObject({
      provider: 'test',
      issuer: f.provider.issuer,
      email: 'Alice@Example.com',
    });

    const linked = events(f, 'oidc.identity_linked').at(-1)!;
    expect(linked.actorId).toBe(user.id);
    expect(linked.details).toEqual({ provider: 'test', via: 'new_user' });
    const succeeded = events(f, 'oidc.login_succeeded').at(-1)!;
    expect(succeeded.details).toEqual({ provider: 'test', created: true });
    expect(events(f, 'oidc.code_exchanged').at(-1)!.actorId).toBe(user.id);
    expect(events(f, 'user.created').at(-1)!.details).toMatchObject({ via: 'oidc:test' });
    // Nothing secret reaches the log.
    const raw = f.logs.raw.join('\n');
    expect(raw).not.toContain(f.provider.clientSecret);
    expect(raw).not.toContain(handoff.code);
    expect(raw).not.toContain(body.accessToken);
  });

  it('cuts a long provider name at 100 code points, never inside an emoji', async () => {
    const name = `${'N'.repeat(99)}\u{1F600}and more`;
    f.provider.account({
      sub: 'long-name',
      email: 'long-name@example.com',
      email_verified: true,
      name,
    });
    const signedIn = await signIn(f, 'long-name');
    expect(signedIn.user.name).toBe(`${'N'.repeat(99)}\u{1F600}`);
  });

  it('replaces a provider name with invisible characters by the email local part', async () => {
    f.provider.account({
      sub: 'invisible-name',
      email: 'plain-name@example.com',
      email_verified: true,
      name: 'Ad\u00admin',
    });
    const signedIn = await signIn(f, 'invisible-name');
    expect(signedIn.user.name).toBe('plain-name');
  });

  it('signs the same provider account into the same user again', async () => {
    const first = await signIn(f, 'alice-sub');
    const second = await signIn(f, 'alice-sub');
    expect(second.user.id).toBe(first.user.id);
    expect(events(f, 'oidc.login_succeeded').at(-1)!.details).toEqual({
      provider: 'test',
      created: false,
    });
  });

  it('hands off to another configured app URL when asked by exact match', async () => {
    const handoff = await signInToHandoff(
      f,
      'alice-sub',
      `?returnTo=${encodeURIComponent(OTHER_APP_URL)}`,
    );
    expect(`${handoff.location.origin}${handoff.location.pathname}`).toBe(OTHER_APP_URL);
  });

  it('refuses a return URL that is not configured, exactly', async () => {
    for (const returnTo of [
      'https://evil.example/',
      `${APP_URL}/`,
      `${APP_URL}?next=https://evil.example`,
      `${APP_URL}.evil.example`,
      'https://app.example.test/signed-in/../admin',
      '//evil.example',
      APP_URL.toUpperCase(),
    ]) {
      const res = await f.app.inject({
        method: 'GET',
        url: `/api/v1/auth/oidc/test?returnTo=${encodeURIComponent(returnTo)}`,
      });
      expect(res.statusCode, returnTo).toBe(400);
      expect(res.json<{ code: string }>().code).toBe('oidc_redirect_not_allowed');
      expect(res.headers.location).toBeUndefined();
      expect(setCookies(res.headers)).toEqual([]);
    }
    expect(events(f, 'oidc.login_failed').at(-1)!.details).toEqual({
      provider: 'test',
      reason: 'return_to_not_allowed',
    });
  });

  it('answers 404 for an unknown provider', async () => {
    for (const url of [
      '/api/v1/auth/oidc/nope',
      '/api/v1/auth/oidc/nope/callback?code=x&state=y',
    ]) {
      const res = await f.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json<{ code: string }>().code).toBe('oidc_unknown_provider');
    }
  });

  it('keeps the routes strict: unknown query parameters and body fields are refused', async () => {
    const started = await startSignIn(f);
    expect(started.loginCookie).toBeDefined();
    const cb = await f.app.inject({
      method: 'GET',
      url: `/api/v1/auth/oidc/test/callback?code=a&state=b&token=c`,
    });
    expect(cb.statusCode).toBe(400);
    expect(cb.json<{ code: string }>().code).toBe('validation_failed');
    const ex = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/oidc/exchange',
      payload: { code: 'a'.repeat(43), extra: 1 },
    });
    expect(ex.statusCode).toBe(400);
    expect(ex.json<{ code: string }>().code).toBe('validation_failed');
  });
});
