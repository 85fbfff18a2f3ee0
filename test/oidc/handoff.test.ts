import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { LogCapture } from '../helpers/app.js';
import { Sessions } from '../../src/tokens/sessions.js';
import { bearer, createUserAndLogin } from '../helpers/identity.js';
import {
  deletePrefix,
  REDIS_SKIP_REASON,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from '../helpers/redis.js';
import {
  deliverCallback,
  events,
  exchange,
  HANDOFF_COOKIE,
  LOGIN_COOKIE,
  oidcFixture,
  signInToHandoff,
  startSignIn,
  type OidcFixture,
} from './support.js';

/*
 * The one-time code that carries a finished sign-in to the front end: single use, 60 seconds,
 * bound to the browser that went through the callback, redeemable on any instance.
 */

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([
    { sub: 'carol-sub', email: 'carol@example.com', email_verified: true, name: 'Carol' },
  ]);
});
afterAll(async () => {
  await f.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

function expectCodeInvalid(res: { statusCode: number; json: <T>() => T }, reason: string): void {
  expect(res.statusCode).toBe(400);
  expect(res.json<{ code: string }>().code).toBe('oidc_code_invalid');
  expect(events(f, 'oidc.code_rejected').at(-1)!.details).toEqual({ reason });
}

describe('the one-time hand-off code', () => {
  it('is single use: a replayed code is refused', async () => {
    const handoff = await signInToHandoff(f, 'carol-sub');
    const first = await exchange(f, handoff.code, handoff.browserSecret);
    expect(first.statusCode).toBe(200);
    const replay = await exchange(f, handoff.code, handoff.browserSecret);
    expectCodeInvalid(replay, 'unknown_or_used');
  });

  it('expires after 60 seconds', async () => {
    const handoff = await signInToHandoff(f, 'carol-sub');
    f.clock.offsetMs = 61_000;
    try {
      expectCodeInvalid(await exchange(f, handoff.code, handoff.browserSecret), 'expired');
    } finally {
      f.clock.offsetMs = 0;
    }
    // And it is gone, not merely refused while the clock is ahead.
    expectCodeInvalid(await exchange(f, handoff.code, handoff.browserSecret), 'unknown_or_used');
  });

  it('works just before it expires', async () => {
    const handoff = await signInToHandoff(f, 'carol-sub');
    f.clock.offsetMs = 55_000;
    try {
      expect((await exchange(f, handoff.code, handoff.browserSecret)).statusCode).toBe(200);
    } finally {
      f.clock.offsetMs = 0;
    }
  });

  it('is bound to the browser: without its cookie, or with another browser’s, it is refused and burnt', async () => {
    const handoff = await signInToHandoff(f, 'carol-sub');
    const other = await signInToHandoff(f, 'carol-sub');
    expectCodeInvalid(await exchange(f, handoff.code), 'unbound');
    const stolen = await signInToHandoff(f, 'carol-sub');
    expectCodeInvalid(await exchange(f, stolen.code, other.browserSecret), 'unbound');
    // A refused code cannot be retried with the right cookie either.
    expectCodeInvalid(await exchange(f, stolen.code, stolen.browserSecret), 'unknown_or_used');
    expect((await exchange(f, other.code, other.browserSecret)).statusCode).toBe(200);
  });

  it('refuses codes it never issued', async () => {
    expectCodeInvalid(await exchange(f, 'A'.repeat(43), 'B'.repeat(43)), 'unknown_or_used');
  });

  it('is redeemed exactly once when two requests race', async () => {
    const handoff = await signInToHandoff(f, 'carol-sub');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => exchange(f, handoff.code, handoff.browserSecret)),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400, 400, 400, 400]);
  });

  it('starts no session for an account disabled while the code was being redeemed', async () => {
    const admin = await createUserAndLogin(f.app, 'admin');
    f.provider.account({ sub: 'dave-sub', email: 'dave@example.com', email_verified: true });
    const handoff = await signInToHandoff(f, 'dave-sub');
    const dave = await f.app.services.usersRepo.findByEmail('dave@example.com');
    const { sessions } = f.app.services;
    const start = sessions.start.bind(sessions); // bound before the spy replaces it
    // The administrator's change lands after the exchange read the account, before its session.
    vi.spyOn(Sessions.prototype, 'start').mockImplementationOnce(async (userId, context) => {
      const res = await f.app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${dave!.id}`,
        headers: bearer(admin.accessToken),
        payload: { disabled: true },
      });
      expect(res.statusCode, res.body).toBe(200);
      return start(userId, context);
    });
    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('account_disabled');
    expect(events(f, 'oidc.code_rejected').at(-1)!.details).toEqual({ reason: 'disabled' });
    expect(await sessions.listActive(dave!.id)).toEqual([]);
  });

  it('sets the hand-off cookie HttpOnly, SameSite=Lax, Secure, host-only (__Host-, Path=/)', async () => {
    const started = await startSignIn(f);
    const callback = await f.provider.authorize(started.location.href, 'carol-sub');
    const res = await deliverCallback(f, callback, started.loginCookie);
    const cookies = res.headers['set-cookie'] as string[];
    // The login cookie is deleted once, the hand-off cookie set.
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toMatch(/^__Host-bulwark-oidc-login=; Path=\/; Max-Age=0/);
    const handoffCookie = cookies.find((c) => c.startsWith(`${HANDOFF_COOKIE}=`))!;
    expect(handoffCookie.split('; ').slice(1)).toEqual([
      'Path=/',
      'Max-Age=60',
      'HttpOnly',
      'SameSite=Lax',
      'Secure',
    ]);
  });
});

describe('across instances sharing Redis', () => {
  if (!redisUrl) {
    it.skip(REDIS_SKIP_REASON, () => undefined);
    return;
  }
  const prefix = uniquePrefix();
  let shared: OidcFixture;
  let second: BulwarkApp;

  beforeAll(async () => {
    await requireRedis();
    shared = await oidcFixture(
      [{ sub: 'dave-sub', email: 'dave@example.com', email_verified: true }],
      {},
      { redis: { url: redisUrl, keyPrefix: prefix } },
    );
    // A second instance of the same deployment: same database, master key and Redis.
    second = await buildApp(shared.config, { logger: new LogCapture() });
    await second.ready();
  });
  afterAll(async () => {
    await second?.close();
    await shared?.close();
    if (redisUrl) await deletePrefix(redisUrl, prefix);
  });

  it('finishes on one instance a sign-in started on another, and redeems the code once anywhere', async () => {
    const started = await startSignIn(shared);
    const callback = await shared.provider.authorize(started.location.href, 'dave-sub');
    // The callback lands on the second instance: the sealed cookie is all it needs.
    const cb = await second.inject({
      method: 'GET',
      url: `${callback.pathname}${callback.search}`,
      headers: { cookie: `${LOGIN_COOKIE}=${started.loginCookie}` },
    });
    expect(cb.statusCode, cb.body).toBe(303);
    const code = new URLSearchParams(new URL(cb.headers.location as string).hash.slice(1)).get(
      'oidc_code',
    )!;
    const secret = (cb.headers['set-cookie'] as string[])
      .find((c) => c.startsWith(`${HANDOFF_COOKIE}=`))!
      .split(';')[0]!
      .slice(HANDOFF_COOKIE.length + 1);
    // Redeemed on the first instance, replayed on the second.
    const ok = await exchange(shared, code, secret);
    expect(ok.statusCode, ok.body).toBe(200);
    const me = await second.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(ok.json<{ accessToken: string }>().accessToken),
    });
    expect(me.statusCode).toBe(200);
    const replay = await second.inject({
      method: 'POST',
      url: '/api/v1/auth/oidc/exchange',
      payload: { code },
      headers: { cookie: `${HANDOFF_COOKIE}=${secret}` },
    });
    expect(replay.statusCode).toBe(400);
    expect(replay.json<{ code: string }>().code).toBe('oidc_code_invalid');
  });
});
