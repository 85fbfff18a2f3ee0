import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, jwtPayload, registerAndLogin } from '../helpers/identity.js';
import {
  cookieValue,
  deliverCallback,
  exchange,
  HANDOFF_COOKIE,
  oidcFixture,
  signIn,
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
  it.fails(
    'is never later than the auth_time of the ID token (no fresh sign-in from an old provider session)',
    async () => {
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
    },
  );

  it.fails(
    'is not renewed by a sign-in through a provider session that asked for no credential',
    async () => {
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
    },
  );
});
