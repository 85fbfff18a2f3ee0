import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createConfig } from '../../src/config/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  signedByServer,
  type LoggedIn,
} from '../helpers/identity.js';

/*
 * Deleting an account is irreversible, so an access token alone is not enough: the session it
 * belongs to must have signed in recently (access.recentSignInSeconds, the token's auth_time).
 * A stolen token of a session that has been refreshed for days, or one of a laptop left signed
 * in, gets the RFC 9470 step-up challenge instead, and nothing is deleted.
 */

const MAX_AGE = 600;
const TTL = 900;
let clock = Date.UTC(2026, 5, 1, 12, 0, 0);
let t: TestApp;
const events: RecordedSecurityEvent[] = [];

beforeAll(async () => {
  t = await buildTestApp({ tokens: { accessTokenTtlSeconds: TTL } }, { now: () => clock });
  t.app.services.events.addSink({ record: (event) => void events.push(event) });
});
afterAll(async () => {
  await t.app.close();
});
beforeEach(() => {
  events.length = 0;
});

const seconds = (ms: number): number => Math.floor(ms / 1000);

function deleteUser(token: string, id: string) {
  return t.app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers: bearer(token) });
}

function me(token: string) {
  return t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
}

async function exists(id: string): Promise<boolean> {
  return (await t.app.services.usersRepo.findById(id)) !== undefined;
}

async function refresh(user: LoggedIn): Promise<LoggedIn> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refreshToken: user.refreshToken },
  });
  expect(res.statusCode).toBe(200);
  const body = res.json<{ accessToken: string; refreshToken: string }>();
  return { ...user, accessToken: body.accessToken, refreshToken: body.refreshToken };
}

function expectStepUp(res: Awaited<ReturnType<typeof deleteUser>>): void {
  expect(res.statusCode).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<{ code: string; detail: string }>();
  expect(body.code).toBe('insufficient_user_authentication');
  expect(body.detail).toBe(
    'This needs a session signed in within the last 10 minutes: sign in again, then retry with the new access token.',
  );
  const challenge = String(res.headers['www-authenticate']);
  expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
  expect(challenge).toContain(`max_age=${MAX_AGE}`);
}

describe('the auth_time claim', () => {
  it('is when the session signed in, and refreshing keeps it', async () => {
    const signedInAt = clock;
    const alice = await registerAndLogin(t.app);
    expect(jwtPayload(alice.accessToken).auth_time).toBe(seconds(signedInAt));
    clock += 2 * TTL * 1000;
    const refreshed = await refresh(alice);
    const claims = jwtPayload(refreshed.accessToken);
    expect(claims.iat).toBe(seconds(clock));
    expect(claims.auth_time).toBe(seconds(signedInAt));
    // A new sign-in is a new session, with its own time.
    const again = await login(t.app, alice.email);
    expect(jwtPayload(again.accessToken).auth_time).toBe(seconds(clock));
  });
});

describe('deleting your own account', () => {
  it('works from a session signed in up to access.recentSignInSeconds ago', async () => {
    const alice = await registerAndLogin(t.app);
    clock += MAX_AGE * 1000;
    expect((await deleteUser(alice.accessToken, alice.id)).statusCode).toBe(204);
    expect(await exists(alice.id)).toBe(false);
  });

  it('needs a new sign-in once the session is older: 401 with the RFC 9470 challenge, nothing deleted', async () => {
    const alice = await registerAndLogin(t.app);
    clock += (MAX_AGE + 1) * 1000;
    // The token itself is still valid (its lifetime is 15 minutes) and still works elsewhere.
    const res = await deleteUser(alice.accessToken, alice.id);
    expectStepUp(res);
    expect(await exists(alice.id)).toBe(true);
    expect((await me(alice.accessToken)).statusCode).toBe(200);
    expect(events.map((e) => e.type)).not.toContain('user.deleted');
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'access.denied',
        outcome: 'denied',
        actorId: alice.id,
        details: {
          reason: 'sign_in_too_old',
          maxAgeSeconds: MAX_AGE,
          status: 401,
          route: '/api/v1/users/:id',
        },
      }),
    );

    // Refreshing does not make the sign-in recent.
    const refreshed = await refresh(alice);
    expectStepUp(await deleteUser(refreshed.accessToken, alice.id));
    expect(await exists(alice.id)).toBe(true);

    // Signing in again does; the other session ends with the account.
    const again = await login(t.app, alice.email);
    expect((await deleteUser(again.accessToken, alice.id)).statusCode).toBe(204);
    expect(await exists(alice.id)).toBe(false);
    expect((await me(refreshed.accessToken)).statusCode).toBe(401);
  });

  it('is refused to a token that does not say when its session signed in', async () => {
    // As tokens issued before auth_time existed: valid, but never recent.
    const alice = await registerAndLogin(t.app);
    const { auth_time: _dropped, ...claims } = jwtPayload(alice.accessToken);
    const token = await signedByServer(t.app, claims);
    expect((await me(token)).statusCode).toBe(200);
    expectStepUp(await deleteUser(token, alice.id));
    expect(await exists(alice.id)).toBe(true);
  });
});

describe('deleting another account as an administrator', () => {
  it('needs a recent sign-in of the administrator too', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const bob = await registerAndLogin(t.app);
    clock += (MAX_AGE + 1) * 1000;
    expectStepUp(await deleteUser(admin.accessToken, bob.id));
    expect(await exists(bob.id)).toBe(true);
    const fresh = await login(t.app, admin.email);
    expect((await deleteUser(fresh.accessToken, bob.id)).statusCode).toBe(204);
    expect(await exists(bob.id)).toBe(false);
  });

  it('a plain user with an old session is challenged before being told it may not', async () => {
    // The order of the answers gives nothing away: 401 for the old sign-in, then 404 as before (others are not found).
    const mallory = await registerAndLogin(t.app);
    const bob = await registerAndLogin(t.app);
    clock += (MAX_AGE + 1) * 1000;
    expectStepUp(await deleteUser(mallory.accessToken, bob.id));
    const fresh = await login(t.app, mallory.email);
    expect((await deleteUser(fresh.accessToken, bob.id)).statusCode).toBe(404);
    expect(await exists(bob.id)).toBe(true);
  });
});

describe('hostile auth_time claims', () => {
  // Signed with the server's own key: only the claim check can stop these.
  it.each([
    ['a string', '1700000000'],
    ['a fraction', 1_700_000_000.5],
    ['negative', -1],
    ['after the token was issued', 'future'],
    ['null', null],
  ])('refuses a token whose auth_time is %s with invalid_token', async (_name, value) => {
    const alice = await registerAndLogin(t.app);
    const claims = jwtPayload(alice.accessToken);
    const res = await me(
      await signedByServer(t.app, {
        ...claims,
        auth_time: value === 'future' ? (claims.iat as number) + 1 : value,
      }),
    );
    expect(res.statusCode).toBe(401);
    expect(res.json<{ code: string }>().code).toBe('invalid_token');
  });
});

describe('configuration', () => {
  it('takes another window, within 60 s to a day', async () => {
    expect(() => createConfig({ access: { recentSignInSeconds: 59 } })).toThrow(
      /access\.recentSignInSeconds/,
    );
    expect(() => createConfig({ access: { recentSignInSeconds: 86_401 } })).toThrow(
      /access\.recentSignInSeconds/,
    );
    const short = await buildTestApp(
      { access: { recentSignInSeconds: 120 } },
      { now: () => clock },
    );
    try {
      const alice = await registerAndLogin(short.app);
      clock += 121_000;
      const res = await short.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${alice.id}`,
        headers: bearer(alice.accessToken),
      });
      expect(res.statusCode).toBe(401);
      expect(res.json<{ detail: string }>().detail).toContain('within the last 2 minutes');
      expect(String(res.headers['www-authenticate'])).toContain('max_age=120');
    } finally {
      await short.app.close();
    }
  });

  it('the guard refuses a window that is not a positive whole number of seconds', () => {
    for (const bad of [0, -5, 1.5, Number.NaN]) {
      expect(() => t.app.requireRecentSignIn(bad)).toThrow(RangeError);
    }
  });
});
