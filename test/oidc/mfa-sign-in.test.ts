import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { STEP_MS, wrongCode } from '../helpers/mfa.js';
import { bearer, jwtPayload, STRONG_PASSWORD } from '../helpers/identity.js';
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

/*
 * An account with MFA on that is also linked to a provider account: a provider sign-in proves
 * the first factor only, so the exchange asks for the account's own second factor too. The
 * one-time code is held for the same browser meanwhile: a fixed deadline, dead once its
 * identity is unlinked, a cookie that lives as long as the hold, and double submits.
 */

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([], { allowLinkingVerifiedEmail: true });
});
afterAll(async () => {
  await f.close();
});
// The provider signs ID tokens on the real clock: each test starts with the service's clock back
// on it (each test has its own user, so no TOTP step is used twice).
afterEach(() => {
  f.clock.offsetMs = 0;
});

const now = (): number => appNow(f);

function clearsHandoffCookie(headers: Record<string, unknown>): boolean {
  return setCookies(headers).some((c) => c.startsWith(`${HANDOFF_COOKIE}=;`));
}

describe('a provider sign-in of an account with MFA on', () => {
  it('asks for a code, holds the one-time code for this browser, then signs in once', async () => {
    const { user, secret } = await linkedWithMfa(f, 'mfa-linked-1');
    const handoff = await signInToHandoff(f, 'mfa-linked-1');

    const asked = await exchange(f, handoff.code, handoff.browserSecret);
    expect(asked.statusCode, asked.body).toBe(401);
    expect(asked.json()).toMatchObject({ code: 'mfa_required' });
    expect(asked.body).not.toMatch(/accessToken|refreshToken/);
    // The browser keeps its hand-off cookie for the second try.
    expect(clearsHandoffCookie(asked.headers)).toBe(false);

    const wrong = await exchange(f, handoff.code, handoff.browserSecret, wrongCode(secret, now()));
    expect(wrong.json()).toMatchObject({ status: 401, code: 'invalid_otp' });
    expect(clearsHandoffCookie(wrong.headers)).toBe(false);

    // Held for this browser only: without its cookie the code is refused, and burnt.
    const ok = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ user: { id: user.id, mfaEnabled: true } });
    // The provider's own methods are not known; the account's second factor is.
    expect(jwtPayload(ok.json<{ accessToken: string }>().accessToken).amr).toEqual(['otp', 'mfa']);
    expect(clearsHandoffCookie(ok.headers)).toBe(true);
    const again = await exchange(
      f,
      handoff.code,
      handoff.browserSecret,
      totpCode(secret, now() + STEP_MS),
    );
    expect(again.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });

    expect(events(f, 'mfa.challenged').at(-1)!.target).toEqual({ type: 'user', id: user.id });
    expect(events(f, 'login.failed').at(-1)!.details).toEqual({ reason: 'wrong_mfa_code' });
    expect(events(f, 'oidc.code_exchanged').at(-1)!.actorId).toBe(user.id);
    f.clock.offsetMs += STEP_MS;
  });

  it('takes a recovery code, and a code already used is refused', async () => {
    const { user, secret } = await linkedWithMfa(f, 'mfa-linked-2');
    // Kept, not computed again: the sign-in below runs on the real clock and may cross into
    // the next 30-second step, whose code would be a fresh one.
    const used = totpCode(secret, now());
    const login = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: STRONG_PASSWORD, mfaCode: used },
    });
    expect(login.statusCode).toBe(200);

    const handoff = await signInToHandoff(f, 'mfa-linked-2');
    // The code the password login just used.
    const replayed = await exchange(f, handoff.code, handoff.browserSecret, used);
    expect(replayed.json()).toMatchObject({ status: 401, code: 'invalid_otp' });
    expect(events(f, 'login.failed').at(-1)!.details).toEqual({ reason: 'mfa_code_replayed' });

    const codes = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/recovery-codes',
      headers: bearer(user.accessToken),
      payload: { password: STRONG_PASSWORD, mfaCode: totpCode(secret, now() + STEP_MS) },
    });
    const [recovery] = codes.json<{ recoveryCodes: string[] }>().recoveryCodes;
    const ok = await exchange(f, handoff.code, handoff.browserSecret, recovery);
    expect(ok.statusCode, ok.body).toBe(200);
    f.clock.offsetMs += 2 * STEP_MS;
  });

  it('holds the code for 5 minutes, not for ever', async () => {
    const { secret } = await linkedWithMfa(f, 'mfa-linked-3');
    const handoff = await signInToHandoff(f, 'mfa-linked-3');
    expect((await exchange(f, handoff.code, handoff.browserSecret)).statusCode).toBe(401);
    f.clock.offsetMs += 5 * 60_000 + 1_000;
    const late = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    expect(late.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(events(f, 'oidc.code_rejected').at(-1)!.details).toEqual({ reason: 'expired' });
  });

  it('refuses a held code from another browser, and burns it', async () => {
    const { secret } = await linkedWithMfa(f, 'mfa-linked-4');
    const handoff = await signInToHandoff(f, 'mfa-linked-4');
    expect((await exchange(f, handoff.code, handoff.browserSecret)).statusCode).toBe(401);
    const stolen = await exchange(f, handoff.code, undefined, totpCode(secret, now()));
    expect(stolen.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(events(f, 'oidc.code_rejected').at(-1)!.details).toEqual({ reason: 'unbound' });
    const owner = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    expect(owner.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
  });

  it('needs no code for an account without MFA (an mfaCode sent anyway is ignored)', async () => {
    f.provider.account({ sub: 'no-mfa', email: 'no-mfa@example.org', email_verified: true });
    const handoff = await signInToHandoff(f, 'no-mfa');
    const res = await exchange(f, handoff.code, handoff.browserSecret, '123456');
    expect(res.statusCode, res.body).toBe(200);
    expect(jwtPayload(res.json<{ accessToken: string }>().accessToken)).not.toHaveProperty('amr');
  });
});

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
    // the second request arrives while the first holds the code. The one that took the code
    // reads its user only once the other has tried to take it too (a fixed delay here could
    // end before the other request got that far on a busy machine).
    const { store, usersRepo: repo } = f.app.services;
    const take = store.take.bind(store);
    const findById = repo.findById.bind(repo);
    let takes = 0;
    let bothTried!: () => void;
    const tried = new Promise<void>((resolve) => (bothTried = resolve));
    store.take = async (key: string) => {
      const value = await take(key);
      if (++takes === 2) bothTried();
      return value;
    };
    repo.findById = async (id: string) => {
      await tried;
      return findById(id);
    };
    let a, b;
    try {
      [a, b] = await Promise.all([
        exchange(f, handoff.code, handoff.browserSecret),
        exchange(f, handoff.code, handoff.browserSecret),
      ]);
    } finally {
      store.take = take;
      repo.findById = findById;
    }
    const codes = [a.json<{ code: string }>().code, b.json<{ code: string }>().code].sort();
    // One holds the code (mfa_required); the other finds it taken. Its refusal must not clear
    // the hand-off cookie, or the held code could no longer be redeemed by this browser.
    const cleared = [a, b].some((r) => clearsHandoffCookie(r.headers));
    expect({ codes, cleared }).toEqual({
      codes: ['mfa_required', 'oidc_code_invalid'],
      cleared: false,
    });
    const ok = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, now()));
    expect(ok.statusCode, ok.body).toBe(200);
    f.clock.offsetMs += STEP_MS;
  });

  it('counts a wrong code by the per-account MFA limit through the exchange too', async () => {
    const g = await oidcFixture(
      [],
      { allowLinkingVerifiedEmail: true },
      { rateLimit: { login: { mfaFailures: 3 } } },
    );
    try {
      const { secret } = await linkedWithMfa(g, 'r2-guess');
      const handoff = await signInToHandoff(g, 'r2-guess');
      const wrong = wrongCode(secret, appNow(g));
      const seen: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const res = await exchange(g, handoff.code, handoff.browserSecret, wrong);
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
    } finally {
      await g.close();
    }
  });
});
