import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from '../helpers/oidc-provider.js';
import {
  deliverCallback,
  events,
  lastFailure,
  LOGIN_COOKIE,
  oidcFixture,
  setCookies,
  signIn,
  startSignIn,
  type OidcFixture,
} from './support.js';

/*
 * Every way a callback can be wrong, each through the real flow: a real authorization at the
 * provider, the real code exchanged by openid-client. Faults a well-behaved provider never
 * produces are injected by the pass-through proxy in front of its token endpoint, re-signing
 * with the provider's own key so that exactly one check fails.
 */

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([
    { sub: 'bob-sub', email: 'bob@example.com', email_verified: true, name: 'Bob' },
  ]);
});
afterEach(() => {
  f.provider.tamper = undefined;
  f.clock.offsetMs = 0;
});
afterAll(async () => {
  await f.close();
});

function problem(res: { json: <T>() => T }): { code: string; status: number; detail: string } {
  return res.json<{ code: string; status: number; detail: string }>();
}

/** The Set-Cookie that deletes the login cookie. */
const CLEARED = `${LOGIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure`;

/** Start, authorize at the provider as bob, and return the callback URL and the login cookie. */
async function authorized(): Promise<{ callback: URL; loginCookie: string }> {
  const started = await startSignIn(f);
  const callback = await f.provider.authorize(started.location.href, 'bob-sub');
  return { callback, loginCookie: started.loginCookie };
}

async function expectRefused(
  callback: URL,
  loginCookie: string | undefined,
  code: string,
  reason: string,
): Promise<void> {
  const before = events(f, 'oidc.login_failed').length;
  const res = await deliverCallback(f, callback, loginCookie);
  const body = problem(res);
  expect(body.code, res.body).toBe(code);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers.location).toBeUndefined();
  // The login cookie is cleared whatever failed, and no hand-off cookie is set.
  expect(setCookies(res.headers)).toEqual([CLEARED]);
  expect(events(f, 'oidc.login_failed')).toHaveLength(before + 1);
  expect(lastFailure(f)).toBe(reason);
  // openid-client's own wording never reaches the client.
  expect(res.body).not.toMatch(/OAUTH_|JWT|claim value/);
}

describe('callback validation', () => {
  it('refuses a state that does not match the browser (CSRF) before the code is used', async () => {
    const { callback, loginCookie } = await authorized();
    const tokenRequests = f.provider.tokenRequests;
    const forged = new URL(callback);
    forged.searchParams.set('state', 'attacker-state');
    await expectRefused(forged, loginCookie, 'oidc_state_mismatch', 'state_mismatch');
    const missing = new URL(callback);
    missing.searchParams.delete('state');
    await expectRefused(missing, loginCookie, 'oidc_state_mismatch', 'state_mismatch');
    expect(f.provider.tokenRequests).toBe(tokenRequests);
  });

  it("refuses a callback from another browser's sign-in (no, altered or expired login cookie)", async () => {
    const { callback, loginCookie } = await authorized();
    await expectRefused(callback, undefined, 'oidc_login_expired', 'no_login_cookie');
    // One character inside the GCM tag changed, so the cookie always differs (rewriting the last
    // two characters to "BA" gave the very same cookie back whenever it ended in "BA").
    const at = loginCookie.length - 5;
    const altered = `${loginCookie.slice(0, at)}${loginCookie[at] === 'A' ? 'B' : 'A'}${loginCookie.slice(at + 1)}`;
    await expectRefused(callback, altered, 'oidc_login_expired', 'login_cookie_invalid');
    f.clock.offsetMs = 601_000;
    await expectRefused(callback, loginCookie, 'oidc_login_expired', 'login_expired');
  });

  it("refuses a login cookie sealed for another provider's callback", async () => {
    const { callback, loginCookie } = await authorized();
    const other = new URL(callback);
    other.pathname = '/api/v1/auth/oidc/other/callback';
    // Unknown provider: 404 before anything else.
    const res = await deliverCallback(f, other, loginCookie);
    expect(res.statusCode).toBe(404);
  });

  it('refuses a replayed authorization code (the provider rejects it at the token endpoint)', async () => {
    const { callback, loginCookie } = await authorized();
    const first = await deliverCallback(f, callback, loginCookie);
    expect(first.statusCode, first.body).toBe(303);
    // An attacker who captured both the callback URL and the login cookie replays them.
    await expectRefused(
      callback,
      loginCookie,
      'oidc_code_rejected',
      'token_endpoint_invalid_grant',
    );
  });

  it('refuses an ID token whose nonce belongs to another sign-in', async () => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.nonce = 'nonce-of-another-sign-in';
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_nonce_mismatch', 'nonce_mismatch');
  });

  it('refuses an ID token signed by another key under the same key id', async () => {
    const { callback, loginCookie } = await authorized();
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, () => undefined, attacker),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_invalid', 'id_token_signature');
  });

  it('refuses an ID token signed by a key the provider does not publish', async () => {
    const { callback, loginCookie } = await authorized();
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(
        body.id_token!,
        (t) => {
          t.header.kid = 'attacker-key';
        },
        attacker,
      ),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_invalid', 'id_token_unknown_key');
  });

  it('refuses an unsigned ID token (alg none)', async () => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => {
      const { payload } = decodeJwt(body.id_token!);
      const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      return { ...body, id_token: `${encode({ alg: 'none' })}.${encode(payload)}.` };
    };
    const res = await deliverCallback(f, callback, loginCookie);
    expect(problem(res).code).toBe('oidc_id_token_invalid');
  });

  it('refuses an expired ID token', async () => {
    const { callback, loginCookie } = await authorized();
    const now = Math.floor(Date.now() / 1000);
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.iat = now - 7_200;
        t.payload.exp = now - 3_600;
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_expired', 'id_token_exp');
  });

  it('refuses an ID token issued in the future, beyond the 30 s tolerance', async () => {
    const { callback, loginCookie } = await authorized();
    const now = Math.floor(Date.now() / 1000);
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.iat = now + 3_600;
        t.payload.exp = now + 4_200;
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_expired', 'id_token_iat');
  });

  it('accepts an ID token whose iat is ahead of the service clock within the tolerance', async () => {
    const { callback, loginCookie } = await authorized();
    const now = Math.floor(Date.now() / 1000);
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.iat = now + 20;
      }),
    });
    const res = await deliverCallback(f, callback, loginCookie);
    expect(res.statusCode, res.body).toBe(303);
  });

  it('refuses an untampered ID token once the service clock is past its exp', async () => {
    // The provider issues 10-minute ID tokens. The sign-in starts on a service clock 20 minutes
    // ahead (so the login cookie is fresh on that clock) and the ID token, though genuine, is
    // already expired there: validation follows the service's clock.
    f.clock.offsetMs = 20 * 60_000;
    const started = await startSignIn(f);
    const callback = await f.provider.authorize(started.location.href, 'bob-sub');
    await expectRefused(callback, started.loginCookie, 'oidc_id_token_expired', 'id_token_exp');
  });

  it('refuses an ID token for another audience', async () => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.aud = 'another-client';
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_invalid', 'id_token_aud');
  });

  it('refuses an ID token from another issuer', async () => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.iss = 'https://evil.example';
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_invalid', 'id_token_iss');
  });

  it('refuses an ID token whose at_hash does not match the access token', async () => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.at_hash = 'AAAAAAAAAAAAAAAAAAAAAA';
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_invalid', 'at_hash_mismatch');
  });

  it.each([
    ['a NUL', 'bob\u0000sub'],
    ['a line feed', 'bob\nsub'],
    ['more than 255 bytes', 'b'.repeat(256)],
    ['nothing', ''],
  ])('refuses a signed ID token whose sub holds %s', async (_label, sub) => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.sub = sub;
      }),
    });
    await expectRefused(callback, loginCookie, 'oidc_id_token_invalid', 'subject_invalid');
  });

  it('accepts a sub of exactly 255 bytes', async () => {
    const { callback, loginCookie } = await authorized();
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.sub = 's'.repeat(255);
        // A new account, not one that another identity's email already holds.
        t.payload.email = 'longest-sub@example.com';
      }),
    });
    const res = await deliverCallback(f, callback, loginCookie);
    expect(res.statusCode, res.body).toBe(303);
  });

  it('refuses a mixed-up issuer in the RFC 9207 iss parameter', async () => {
    const { callback, loginCookie } = await authorized();
    expect(callback.searchParams.get('iss')).toBe(f.provider.issuer);
    const mixed = new URL(callback);
    mixed.searchParams.set('iss', 'https://evil.example');
    await expectRefused(mixed, loginCookie, 'oidc_issuer_mismatch', 'iss_parameter');
  });

  it('refuses a callback without the RFC 9207 iss parameter from a provider that announces it', async () => {
    const { callback, loginCookie } = await authorized();
    const stripped = new URL(callback);
    stripped.searchParams.delete('iss');
    await expectRefused(stripped, loginCookie, 'oidc_issuer_mismatch', 'iss_parameter_missing');
  });

  it('uses up the login cookie on a malformed callback too (duplicated, unknown or over-long parameters)', async () => {
    const { callback, loginCookie } = await authorized();
    const state = callback.searchParams.get('state')!;
    for (const query of [
      `${callback.search}&state=${state}`,
      `${callback.search}&code=another`,
      `${callback.search}&unexpected=1`,
      `?code=${'a'.repeat(5_000)}&state=${state}`,
    ]) {
      const res = await f.app.inject({
        method: 'GET',
        url: `${callback.pathname}${query}`,
        headers: { cookie: `${LOGIN_COOKIE}=${loginCookie}` },
      });
      expect(res.statusCode, query).toBe(400);
      expect(problem(res).code).toBe('validation_failed');
      expect(setCookies(res.headers), query).toEqual([CLEARED]);
    }
  });

  it('reports a cancelled sign-in at the provider as a refusal', async () => {
    const started = await startSignIn(f);
    const callback = await f.provider.authorize(started.location.href, 'bob-sub', true);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    await expectRefused(
      callback,
      started.loginCookie,
      'oidc_provider_denied',
      'provider_access_denied',
    );
  });

  it('still signs in when nothing was tampered with (the checks above are not always-fail)', async () => {
    const signedIn = await signIn(f, 'bob-sub');
    expect(signedIn.user.email).toBe('bob@example.com');
  });
});
