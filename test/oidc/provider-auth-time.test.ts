import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, jwtPayload, registerAndLogin } from '../helpers/identity.js';
import {
  cookieValue,
  deliverCallback,
  exchange,
  HANDOFF_COOKIE,
  lastFailure,
  oidcFixture,
  signIn,
  signInToHandoff,
  startSignIn,
  type OidcFixture,
} from './support.js';

/*
 * A provider sign-in is only as recent as the provider's own authentication of the user. With a
 * provider session still open in the browser (single sign-on), a new sign-in here asks for no
 * credential at all, and the ID token says when the user really authenticated (`auth_time`,
 * OIDC Core 2). The session's tokens must not claim a later sign-in than that, or
 * access.recentSignInSeconds and access.privilegedRecentSignInSeconds (RFC 9470 step-up) are one
 * silent provider round trip away from satisfied.
 */

const TWO_HOURS = 2 * 3600;
let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([
    { sub: 'root-sub', email: 'root@example.com', email_verified: true, name: 'Root Admin' },
    { sub: 'sso-sub', email: 'sso@example.com', email_verified: true, name: 'Single Sign-On' },
  ]);
});
afterAll(async () => {
  await f.close();
});

/** The next ID token says its user authenticated at the provider `ageSeconds` ago. */
function providerAuthenticatedAgo(ageSeconds: number): void {
  f.provider.tamper = (body) => ({
    ...body,
    id_token: f.provider.resign(body.id_token!, (t) => {
      t.payload.auth_time = Math.floor(Date.now() / 1000) - ageSeconds;
    }),
  });
}

describe('auth_time of a provider sign-in', () => {
  it('is never later than the auth_time of the ID token (no fresh sign-in from an old provider session)', async () => {
    // The administrator signs in once through the provider, and is made an administrator.
    const first = await signIn(f, 'root-sub');
    await f.testDb.db.kysely
      .updateTable('users')
      .set({ role: 'admin' })
      .where('id', '=', first.user.id)
      .execute();
    const bob = await registerAndLogin(f.app);

    // Two hours later, someone at the administrator's browser signs in again: the provider's
    // session answers without asking for anything, and its ID token says so.
    providerAuthenticatedAgo(TWO_HOURS);
    const again = await signIn(f, 'root-sub');
    f.provider.tamper = undefined;

    const authTime = jwtPayload(again.accessToken).auth_time as number;
    expect(authTime).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) - TWO_HOURS);
    // And so the privileged window (1 hour) is not met: the step-up challenge.
    const res = await f.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${bob.id}`,
      headers: bearer(again.accessToken),
      payload: { disabled: true },
    });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json<{ code: string }>().code).toBe('insufficient_user_authentication');
  });

  it('is not renewed by a sign-in through a provider session that asked for no credential', async () => {
    // One browser: the provider remembers its sign-in in its cookies.
    const jar = new Map<string, string>();
    const viaBrowser = async () => {
      const started = await startSignIn(f);
      const callback = await f.provider.authorize(started.location.href, 'sso-sub', false, jar);
      const res = await deliverCallback(f, callback, started.loginCookie);
      expect(res.statusCode, res.body).toBe(303);
      const code = new URLSearchParams(new URL(res.headers.location as string).hash.slice(1)).get(
        'oidc_code',
      );
      const done = await exchange(f, code!, cookieValue(res.headers, HANDOFF_COOKIE));
      expect(done.statusCode, done.body).toBe(200);
      return jwtPayload(done.json<{ accessToken: string }>().accessToken).auth_time as number;
    };
    const first = await viaBrowser();
    // Later (whole seconds apart), the same browser signs in again: the provider answers from
    // its session, with no login form and no consent, so nobody proved anything anew.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = await viaBrowser();
    expect(second).toBeLessThanOrEqual(first);
  });
});

/** The account `sub` made an administrator, with another account to act on. */
async function adminAndTarget(fixture: OidcFixture, sub: string) {
  const signedIn = await signIn(fixture, sub);
  await fixture.testDb.db.kysely
    .updateTable('users')
    .set({ role: 'admin' })
    .where('id', '=', signedIn.user.id)
    .execute();
  return { admin: signedIn.user.id, target: (await registerAndLogin(fixture.app)).id };
}

/** A step-up sign-in (`?maxAge=N`) through the provider as `sub`: the exchange's answer. */
async function stepUp(fixture: OidcFixture, sub: string, maxAge: number) {
  const handoff = await signInToHandoff(fixture, sub, `?maxAge=${maxAge}`);
  const res = await exchange(fixture, handoff.code, handoff.browserSecret);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ accessToken: string }>().accessToken;
}

const disable = (fixture: OidcFixture, token: string, id: string) =>
  fixture.app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${id}`,
    headers: bearer(token),
    payload: { disabled: true },
  });

describe('a step-up sign-in through the provider (maxAge)', () => {
  it('sends max_age, and a fresh authentication at the provider meets the windows', async () => {
    const { target } = await adminAndTarget(f, 'root-sub');
    const started = await startSignIn(f, '?maxAge=0');
    expect(started.location.searchParams.get('max_age')).toBe('0');
    const before = Math.floor(Date.now() / 1000);
    const token = await stepUp(f, 'root-sub', 0);
    expect(jwtPayload(token).auth_time as number).toBeGreaterThanOrEqual(before - 1);
    const res = await disable(f, token, target);
    expect(res.statusCode, res.body).toBe(200);
  });

  it('refuses an answer with no auth_time, or an older one than asked for', async () => {
    for (const [tamper, reason] of [
      [
        (t: { payload: Record<string, unknown> }) => {
          delete t.payload.auth_time;
        },
        'no_auth_time',
      ],
      [
        (t: { payload: Record<string, unknown> }) => {
          t.payload.auth_time = Math.floor(Date.now() / 1000) - TWO_HOURS;
        },
        'auth_time_too_old',
      ],
    ] as const) {
      f.provider.tamper = (body) => ({
        ...body,
        id_token: f.provider.resign(body.id_token!, tamper),
      });
      const started = await startSignIn(f, '?maxAge=600');
      const callback = await f.provider.authorize(started.location.href, 'sso-sub');
      const res = await deliverCallback(f, callback, started.loginCookie);
      f.provider.tamper = undefined;
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json()).toMatchObject({ code: 'oidc_sign_in_not_recent' });
      expect(res.json<{ detail: string }>().detail).toContain('within the last 600 seconds');
      expect(cookieValue(res.headers, HANDOFF_COOKIE) ?? '').toBe('');
      expect(lastFailure(f)).toBe(reason);
    }
  });

  it('takes maxAge from 0 to 86400 seconds only', async () => {
    for (const bad of ['-1', '86401', '1.5', 'soon', '']) {
      const res = await f.app.inject({
        method: 'GET',
        url: `/api/v1/auth/oidc/test?maxAge=${bad}`,
      });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json()).toMatchObject({ code: 'validation_failed' });
    }
  });

  it('never dates a sign-in after the callback, whatever the provider clock says', async () => {
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.auth_time = Math.floor(Date.now() / 1000) + 3600;
      }),
    });
    const token = (await signIn(f, 'sso-sub')).accessToken;
    f.provider.tamper = undefined;
    const claims = jwtPayload(token);
    expect(claims.auth_time as number).toBeLessThanOrEqual(claims.iat as number);
  });
});

describe('a provider that never says when it authenticated the user', () => {
  let quiet: OidcFixture;
  beforeAll(async () => {
    quiet = await oidcFixture(
      [
        { sub: 'quiet-admin', email: 'qa@example.com', email_verified: true, name: 'Quiet Admin' },
        { sub: 'quiet-user', email: 'qu@example.com', email_verified: true, name: 'Quiet User' },
      ],
      {},
      {},
      { claimsParameter: false },
    );
  });
  afterAll(async () => {
    await quiet.close();
  });

  it('signs in, but its tokens never count as a recent sign-in', async () => {
    const { target } = await adminAndTarget(quiet, 'quiet-admin');
    const again = await signIn(quiet, 'quiet-admin');
    expect(jwtPayload(again.accessToken)).not.toHaveProperty('auth_time');
    const res = await disable(quiet, again.accessToken, target);
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ code: 'insufficient_user_authentication' });
    // Nor can a user signed in through it delete their own account without a step-up.
    const user = await signIn(quiet, 'quiet-user');
    const own = await quiet.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.user.id}`,
      headers: bearer(user.accessToken),
    });
    expect(own.statusCode, own.body).toBe(401);
  });

  it('a step-up sends max_age, which makes auth_time required, and then counts', async () => {
    const { target } = await adminAndTarget(quiet, 'quiet-admin');
    const token = await stepUp(quiet, 'quiet-admin', 3600);
    expect(jwtPayload(token)).toHaveProperty('auth_time');
    expect((await disable(quiet, token, target)).statusCode).toBe(200);
  });
});
