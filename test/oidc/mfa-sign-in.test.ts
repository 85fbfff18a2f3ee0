import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { STEP_MS } from '../helpers/mfa.js';
import { bearer, jwtPayload, STRONG_PASSWORD } from '../helpers/identity.js';
import {
  events,
  exchange,
  HANDOFF_COOKIE,
  appNow,
  linkedWithMfa,
  oidcFixture,
  setCookies,
  signInToHandoff,
  type OidcFixture,
} from './support.js';

/*
 * An account with MFA on that is also linked to a provider account: a provider sign-in proves
 * the first factor only, so the exchange asks for the account's own second factor too. The
 * one-time code is held for the same browser meanwhile.
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

    const wrongCode = totpCode(secret, now()) === '000000' ? '111111' : '000000';
    const wrong = await exchange(f, handoff.code, handoff.browserSecret, wrongCode);
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
    const login = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: STRONG_PASSWORD, mfaCode: totpCode(secret, now()) },
    });
    expect(login.statusCode).toBe(200);

    const handoff = await signInToHandoff(f, 'mfa-linked-2');
    // The code the password login just used.
    const replayed = await exchange(
      f,
      handoff.code,
      handoff.browserSecret,
      totpCode(secret, now()),
    );
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
