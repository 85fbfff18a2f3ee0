/*
 * The one-time OIDC hand-off code held for an MFA retry: a fixed deadline, dead once its
 * identity is unlinked, a cookie that lives as long as the hold, and double submits.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { STEP_MS } from '../helpers/mfa.js';
import { bearer } from '../helpers/identity.js';
import {
  deliverCallback,
  events,
  exchange,
  HANDOFF_COOKIE,
  appNow,
  linkedWithMfa,
  oidcFixture,
  setCookies,
  signInToHandoff,
  startSignIn,
  type OidcFixture,
} from './support.js';

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([], { allowLinkingVerifiedEmail: true });
});
afterAll(async () => {
  await f.close();
});
// The provider signs with the real clock: every test starts with the service's clock back on it
// (each test has its own user, so no TOTP step is reused).
afterEach(() => {
  f.clock.offsetMs = 0;
});

const now = (): number => appNow(f);

function handoffCookieMaxAge(headers: Record<string, unknown>): number | undefined {
  const c = setCookies(headers).find((v) => v.startsWith(`${HANDOFF_COOKIE}=`));
  const m = c === undefined ? null : /Max-Age=(\d+)/.exec(c);
  return m === null ? undefined : Number(m[1]);
}

describe('the held OIDC hand-off code', () => {
  it('a held code cannot be kept alive for ever by code-less retries', async () => {
    const { secret } = await linkedWithMfa(f, 'r2-forever');
    const handoff = await signInToHandoff(f, 'r2-forever');
    // A retry without mfaCode every 2 minutes: each one is refunded by the throttle, and would
    // re-hold the code for another 5 minutes if the hold were renewed.
    for (let i = 0; i < 3; i += 1) {
      const res = await exchange(f, handoff.code, handoff.browserSecret);
      expect(res.json()).toMatchObject({ status: 401, code: 'mfa_required' });
      f.clock.offsetMs += 2 * 60_000;
    }
    // 6 minutes after the first refusal: the 5-minute hold ran from it, not from the last one.
    const late = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    f.clock.offsetMs += STEP_MS;
    expect(late.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(events(f, 'oidc.code_rejected').at(-1)!.details).toEqual({ reason: 'expired' });
  });

  it('a held code dies when the identity it came from is unlinked', async () => {
    const { user, secret } = await linkedWithMfa(f, 'r2-unlinked');
    const handoff = await signInToHandoff(f, 'r2-unlinked');
    expect((await exchange(f, handoff.code, handoff.browserSecret)).statusCode).toBe(401);
    // The owner notices a provider sign-in they did not make, and unlinks that provider account.
    const list = await f.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/identities',
      headers: bearer(user.accessToken),
    });
    const [identity] = list.json<{ items: { id: string }[] }>().items;
    const unlink = await f.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/me/identities/${identity!.id}`,
      headers: bearer(user.accessToken),
    });
    expect(unlink.statusCode, unlink.body).toBe(204);
    const res = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    f.clock.offsetMs += STEP_MS;
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
  });

  it('the hand-off cookie lives as long as the code is held (5 minutes)', async () => {
    await linkedWithMfa(f, 'r2-cookie');
    const started = await startSignIn(f);
    const callback = await f.provider.authorize(started.location.href, 'r2-cookie');
    const cb = await deliverCallback(f, callback, started.loginCookie);
    expect(cb.statusCode).toBe(303);
    const code = new URLSearchParams(new URL(cb.headers.location as string).hash.slice(1)).get(
      'oidc_code',
    )!;
    const browserSecret = setCookies(cb.headers)
      .find((c) => c.startsWith(`${HANDOFF_COOKIE}=`))!
      .split(';')[0]!
      .split('=')[1]!;
    const callbackMaxAge = handoffCookieMaxAge(cb.headers);
    const asked = await exchange(f, code, browserSecret);
    expect(asked.json()).toMatchObject({ code: 'mfa_required' });
    // The browser holds the cookie for the longer of the callback's Max-Age and any Max-Age the
    // mfa_required answer sets; after that it stops sending it and the held code is 'unbound'.
    const cookieLifetime = Math.max(callbackMaxAge ?? 0, handoffCookieMaxAge(asked.headers) ?? 0);
    // Not the callback's 60 s (oidc.handoffTtlSeconds): the user has 5 minutes to type a code.
    expect(cookieLifetime).toBeGreaterThanOrEqual(300);
  });

  it('a double-submitted exchange does not clear the cookie of the held code', async () => {
    const { secret } = await linkedWithMfa(f, 'r2-double');
    const handoff = await signInToHandoff(f, 'r2-double');
    // A front end that runs its exchange effect twice (React StrictMode), or a double click:
    // the second request arrives while the first holds the code (a user read of 50 ms).
    const repo = f.app.services.usersRepo;
    const findById = repo.findById.bind(repo);
    repo.findById = async (id: string) => {
      await new Promise((r) => setTimeout(r, 50));
      return findById(id);
    };
    let a, b;
    try {
      [a, b] = await Promise.all([
        exchange(f, handoff.code, handoff.browserSecret),
        exchange(f, handoff.code, handoff.browserSecret),
      ]);
    } finally {
      repo.findById = findById;
    }
    const codes = [a.json<{ code: string }>().code, b.json<{ code: string }>().code].sort();
    // One holds the code (mfa_required); the other finds it taken. Its refusal must not clear
    // the hand-off cookie, or the held code could no longer be redeemed by this browser.
    const cleared = [a, b].some((r) =>
      setCookies(r.headers).some((c) => c.startsWith(`${HANDOFF_COOKIE}=;`)),
    );
    expect({ codes, cleared }).toEqual({
      codes: ['mfa_required', 'oidc_code_invalid'],
      cleared: false,
    });
    const ok = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    expect(ok.statusCode, ok.body).toBe(200);
    f.clock.offsetMs += STEP_MS;
  });

  it('counts a wrong code by the per-account MFA limit through the exchange too', async () => {
    const shared = f;
    f = await oidcFixture(
      [],
      { allowLinkingVerifiedEmail: true },
      { rateLimit: { login: { mfaFailures: 3 } } },
    );
    try {
      await guessThroughExchange();
    } finally {
      await f.close();
      f = shared;
    }
  });
});

async function guessThroughExchange(): Promise<void> {
  {
    const { secret } = await linkedWithMfa(f, 'r2-guess');
    const handoff = await signInToHandoff(f, 'r2-guess');
    const right = totpCode(secret, now());
    const wrong = right === '000000' ? '111111' : '000000';
    const seen: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await exchange(f, handoff.code, handoff.browserSecret, wrong);
      seen.push(res.json<{ code: string }>().code);
    }
    // 3 wrong codes an hour for the account, then 429 (and the code is still held).
    expect(seen).toEqual([
      'invalid_otp',
      'invalid_otp',
      'invalid_otp',
      'rate_limited',
      'rate_limited',
    ]);
  }
}
