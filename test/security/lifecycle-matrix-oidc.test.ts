/*
 * Account lifecycle × provider sign-ins (lifecycle matrix, findings-lifecycle.md): a one-time
 * hand-off code is a sign-in that has not become a session yet. The account may change between
 * the callback that issued it and its exchange: deleted, MFA turned on, MFA reset by an
 * administrator, role changed, every session ended (logout everywhere, password change or reset,
 * disabling). The exchange must answer for the account as it is then, never as it was at the
 * callback; an end of every session made against whoever may be signed in ends the code too. A
 * real OpenID Connect provider on loopback.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthService } from '../../src/auth/auth-service.js';
import { totpCode } from '../../src/crypto/index.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';
import {
  appNow,
  events,
  exchange,
  linkedWithMfa,
  oidcFixture,
  signIn,
  signInToHandoff,
  type OidcFixture,
} from '../oidc/support.js';
import { setDisabled } from '../auth/support.js';

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([], { allowLinkingVerifiedEmail: true });
});
afterAll(async () => {
  await f.close();
});
// The provider signs ID tokens on the real clock: each test starts with the app's clock on it
// (each has its own users, so no TOTP step is used twice).
afterEach(() => {
  f.clock.offsetMs = 0;
});

/** A password account with a verified address, linked to provider account `sub`. */
async function linked(sub: string, role?: string): Promise<LoggedIn> {
  const user =
    role === undefined ? await registerAndLogin(f.app) : await createUserAndLogin(f.app, role);
  await f.app.services.usersRepo.update(user.id, { email_verified: 1 });
  f.provider.account({ sub, email: user.email, email_verified: true });
  expect((await signIn(f, sub)).user.id).toBe(user.id);
  return user;
}

/** The `oidc.code_rejected` events of `userId`'s sign-ins, oldest first. */
function rejectedFor(userId: string) {
  return events(f, 'oidc.code_rejected').filter((e) => e.target?.id === userId);
}

async function status(method: 'GET' | 'DELETE', url: string, token: string): Promise<number> {
  return (await f.app.inject({ method, url, headers: bearer(token) })).statusCode;
}

describe('a hand-off code issued before the account changed', () => {
  it('deleted by its owner: the code starts no session', async () => {
    const user = await linked('lc-deleted');
    const handoff = await signInToHandoff(f, 'lc-deleted');
    expect(await status('DELETE', `/api/v1/users/${user.id}`, user.accessToken)).toBe(204);
    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(res.body).not.toMatch(/accessToken|refreshToken/);
  });

  it('MFA turned on meanwhile: the exchange asks for the new second factor', async () => {
    const user = await linked('lc-mfa-on');
    const handoff = await signInToHandoff(f, 'lc-mfa-on');
    const { secret } = await enrolMfa(f.app, user.accessToken, appNow(f));
    f.clock.offsetMs += STEP_MS;
    const asked = await exchange(f, handoff.code, handoff.browserSecret);
    expect(asked.json()).toMatchObject({ status: 401, code: 'mfa_required' });
    expect(asked.body).not.toMatch(/accessToken|refreshToken/);
    const ok = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, appNow(f)));
    expect(ok.statusCode, ok.body).toBe(200);
    expect(jwtPayload(ok.json<{ accessToken: string }>().accessToken).amr).toEqual(['otp', 'mfa']);
  });

  it('MFA reset by an administrator while the code was held: the code starts no session', async () => {
    // The administrator's session showed a second factor, as DELETE /users/:id/mfa requires.
    const admin = await createUserAndLogin(f.app, 'admin');
    const adminFactor = await enrolMfa(f.app, admin.accessToken, appNow(f));
    f.clock.offsetMs += STEP_MS;
    const adminLogin = await loginWith(f.app, admin.email, {
      mfaCode: totpCode(adminFactor.secret, appNow(f)),
    });
    expect(adminLogin.statusCode, adminLogin.body).toBe(200);
    const adminToken = adminLogin.json<{ accessToken: string }>().accessToken;

    const { user } = await linkedWithMfa(f, 'lc-mfa-reset');
    const handoff = await signInToHandoff(f, 'lc-mfa-reset');
    expect((await exchange(f, handoff.code, handoff.browserSecret)).statusCode).toBe(401);
    expect(await status('DELETE', `/api/v1/users/${user.id}/mfa`, adminToken)).toBe(204);

    // The reset ended every session of the account, and the sign-in held for its factor too.
    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(res.body).not.toMatch(/accessToken|refreshToken/);
    expect(rejectedFor(user.id).at(-1)?.details).toEqual({ reason: 'sessions_ended' });
    // Signed in again, its session claims no second factor: the reset took it.
    const again = await signIn(f, 'lc-mfa-reset');
    expect(jwtPayload(again.accessToken).amr).toBeUndefined();
    // A step-up route refuses it: the reset took the factor this sign-in never showed.
    expect(await status('GET', '/api/v1/examples/step-up', again.accessToken)).toBe(401);
  });

  it('an administrator demoted meanwhile: the code gives a token of the new role', async () => {
    const actor = await createUserAndLogin(f.app, 'admin');
    const demoted = await linked('lc-demoted', 'admin');
    const handoff = await signInToHandoff(f, 'lc-demoted');
    const res = await f.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${demoted.id}`,
      headers: bearer(actor.accessToken),
      payload: { role: 'user' },
    });
    expect(res.statusCode, res.body).toBe(200);
    const ok = await exchange(f, handoff.code, handoff.browserSecret);
    expect(ok.statusCode, ok.body).toBe(200);
    const token = ok.json<{ accessToken: string }>().accessToken;
    expect(jwtPayload(token).role).toBe('user');
    expect(await status('GET', '/api/v1/users', token)).toBe(403);
  });
});

describe('a hand-off code issued before every session of the account was ended', () => {
  function post(url: string, token: string, payload?: Record<string, unknown>) {
    return f.app.inject({
      method: 'POST',
      url: `/api/v1/auth${url}`,
      headers: bearer(token),
      ...(payload === undefined ? {} : { payload }),
    });
  }

  async function logoutAll(user: LoggedIn): Promise<void> {
    expect((await post('/logout-all', user.accessToken)).statusCode).toBe(204);
  }

  /** The ids of the account's sessions, open or ended. */
  async function sessionsOf(userId: string): Promise<{ id: string; ended: boolean }[]> {
    const rows = await f.testDb.db.kysely
      .selectFrom('sessions')
      .select(['id', 'ended_at'])
      .where('user_id', '=', userId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: r.id, ended: r.ended_at !== null }));
  }

  /** The exchange is refused as a code of ended sessions, and starts no session. */
  async function expectRefused(user: LoggedIn, handoff: { code: string; browserSecret: string }) {
    const before = await sessionsOf(user.id);
    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(res.body).not.toMatch(/accessToken|refreshToken/);
    expect(rejectedFor(user.id).at(-1)?.details).toEqual({ reason: 'sessions_ended' });
    expect(await sessionsOf(user.id)).toEqual(before);
  }

  it('logged out everywhere (POST /auth/logout-all): refused, no session', async () => {
    const user = await linked('lc-end-logout-all');
    const handoff = await signInToHandoff(f, 'lc-end-logout-all');
    await logoutAll(user);
    await expectRefused(user, handoff);
  });

  it('a code issued after the logout everywhere still signs in', async () => {
    const user = await linked('lc-end-after');
    await logoutAll(user);
    const res = await signIn(f, 'lc-end-after');
    expect(res.user.id).toBe(user.id);
    expect(await status('GET', '/api/v1/users/me', res.accessToken)).toBe(200);
  });

  it('the password changed (POST /auth/password): refused; the changing session stays', async () => {
    const user = await linked('lc-end-password');
    const handoff = await signInToHandoff(f, 'lc-end-password');
    const changed = await post('/password', user.accessToken, {
      currentPassword: STRONG_PASSWORD,
      newPassword: 'velvet orbit lantern mosaic 93',
    });
    expect(changed.statusCode, changed.body).toBe(204);
    await expectRefused(user, handoff);
    expect(await status('GET', '/api/v1/users/me', user.accessToken)).toBe(200);
  });

  it('the password reset (UsersService.setPassword, as a link or the CLI does): refused', async () => {
    const user = await linked('lc-end-reset');
    const handoff = await signInToHandoff(f, 'lc-end-reset');
    await f.app.services.users.setPassword(user.id, 'velvet orbit lantern mosaic 93', {});
    await expectRefused(user, handoff);
  });

  it('disabled by an administrator: refused as disabled; enabled again, the code stays refused', async () => {
    const admin = await createUserAndLogin(f.app, 'admin');
    const user = await linked('lc-end-disabled');
    const first = await signInToHandoff(f, 'lc-end-disabled');
    const second = await signInToHandoff(f, 'lc-end-disabled');
    await setDisabled(f.app, admin.accessToken, user.id, true);
    const res = await exchange(f, first.code, first.browserSecret);
    expect(res.json()).toMatchObject({ status: 403, code: 'account_disabled' });
    expect(rejectedFor(user.id).at(-1)?.details).toEqual({ reason: 'disabled' });
    // Enabled before the other code is used: the disabling ended that sign-in too.
    await setDisabled(f.app, admin.accessToken, user.id, false);
    await expectRefused(user, second);
  });

  it('held for its second factor: a logout everywhere meanwhile refuses it, code or not', async () => {
    const { user, secret } = await linkedWithMfa(f, 'lc-end-mfa-held');
    const handoff = await signInToHandoff(f, 'lc-end-mfa-held');
    const asked = await exchange(f, handoff.code, handoff.browserSecret);
    expect(asked.json()).toMatchObject({ status: 401, code: 'mfa_required' });
    await logoutAll(user);
    const before = await sessionsOf(user.id);
    const res = await exchange(f, handoff.code, handoff.browserSecret, totpCode(secret, appNow(f)));
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(rejectedFor(user.id).at(-1)?.details).toEqual({ reason: 'sessions_ended' });
    expect(await sessionsOf(user.id)).toEqual(before);
    // Refused for good: not held for another try.
    const again = await exchange(
      f,
      handoff.code,
      handoff.browserSecret,
      totpCode(secret, appNow(f)),
    );
    expect(again.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
  });

  it('logged out everywhere while the exchange starts its session: that session ends, refused', async () => {
    const user = await linked('lc-end-race');
    const handoff = await signInToHandoff(f, 'lc-end-race');
    // The exchange has checked the account; the logout everywhere lands before its session
    // starts, so it finds no session of this sign-in to end.
    const auth = f.app.services.auth;
    const original = auth.startSession.bind(auth);
    auth.startSession = async (...args: Parameters<AuthService['startSession']>) => {
      auth.startSession = original;
      await logoutAll(user);
      return original(...args);
    };
    let res: Awaited<ReturnType<typeof exchange>>;
    try {
      res = await exchange(f, handoff.code, handoff.browserSecret);
    } finally {
      auth.startSession = original;
    }
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(res.body).not.toMatch(/accessToken|refreshToken/);
    expect(rejectedFor(user.id).at(-1)?.details).toEqual({ reason: 'sessions_ended' });
    // The session it started is ended like every other of the account.
    const open = (await sessionsOf(user.id)).filter((s) => !s.ended);
    expect(open).toEqual([]);
  });
});
