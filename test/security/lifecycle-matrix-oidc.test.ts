/*
 * Account lifecycle × provider sign-ins (lifecycle matrix, findings-lifecycle.md): a one-time
 * hand-off code is a sign-in that has not become a session yet. The account may change between
 * the callback that issued it and its exchange: deleted, MFA turned on, MFA reset by an
 * administrator, role changed. The exchange must answer for the account as it is then, never as
 * it was at the callback. A real OpenID Connect provider on loopback.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';
import {
  appNow,
  exchange,
  linkedWithMfa,
  oidcFixture,
  signIn,
  signInToHandoff,
  type OidcFixture,
} from '../oidc/support.js';

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

  it('MFA reset by an administrator while the code was held: its session claims no second factor', async () => {
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

    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.statusCode, res.body).toBe(200);
    const token = res.json<{ accessToken: string }>().accessToken;
    expect(jwtPayload(token).amr).toBeUndefined();
    // A step-up route refuses it: the reset took the factor this sign-in never showed.
    expect(await status('GET', '/api/v1/examples/step-up', token)).toBe(401);
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
