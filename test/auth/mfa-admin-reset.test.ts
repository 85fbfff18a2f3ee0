/*
 * The administrator's MFA reset (DELETE /api/v1/users/:id/mfa) and the amr claim across races:
 * a reset needs the administrator's own second factor, is audited when refused, and ends even
 * a session whose login was in flight when it landed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { enrolMfa, STEP_MS } from '../helpers/mfa.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { captureEvents, expectProblem } from './support.js';

let t: TestApp;
let clock = Date.UTC(2026, 10, 30, 12, 0, 10);

beforeAll(async () => {
  t = await buildTestApp({}, { now: () => clock });
});
afterAll(async () => {
  await t.app.close();
});

async function enrol(user: LoggedIn): Promise<string> {
  const { secret } = await enrolMfa(t.app, user.accessToken, clock);
  clock += STEP_MS;
  return secret;
}

/** An administrator whose session showed a second factor, as the reset route requires. */
async function mfaAdmin(): Promise<LoggedIn> {
  const admin = await createUserAndLogin(t.app, 'admin');
  const secret = await enrol(admin);
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: admin.email, password: STRONG_PASSWORD, mfaCode: totpCode(secret, clock) },
  });
  expect(res.statusCode, res.body).toBe(200);
  clock += STEP_MS;
  return { ...admin, accessToken: res.json<{ accessToken: string }>().accessToken };
}

function reset(id: string, token: string) {
  return t.app.inject({ method: 'DELETE', url: `/api/v1/users/${id}/mfa`, headers: bearer(token) });
}

describe('DELETE /api/v1/users/:id/mfa', () => {
  it('needs a session that showed a second factor (step-up), not a bare admin token', async () => {
    // An administrator's password-only session (amr ["pwd"]): a stolen or phished admin token.
    const admin = await createUserAndLogin(t.app, 'admin');
    expect(jwtPayload(admin.accessToken).amr).toEqual(['pwd']);
    const victim = await createUserAndLogin(t.app, 'admin');
    await enrol(victim);
    const res = await reset(victim.id, admin.accessToken);
    // app.requireMfa: a stolen or phished administrator token cannot strip MFA from others.
    expectProblem(res, 401, 'insufficient_user_authentication');
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_user_authentication"/);
  });

  it('an administrator refused a reset of their own MFA is an access.denied event', async () => {
    const admin = await mfaAdmin();
    const events = captureEvents(t.app);
    expectProblem(await reset(admin.id, admin.accessToken), 403, 'forbidden');
    // Like every other 403 of the API (authorize, not_owner 404s), it is recorded.
    const denied = events.filter((e) => e.type === 'access.denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({
      actorId: admin.id,
      details: { reason: 'own_account', status: 403 },
    });
  });

  it('a login in flight when the reset lands does not keep an "mfa" session', async () => {
    const admin = await mfaAdmin();
    const user = await registerAndLogin(t.app);
    const secret = await enrol(user);
    // Hold the login right after its second factor was accepted, and reset MFA meanwhile.
    const mfa = t.app.services.mfa;
    const check = mfa.checkSecondFactor.bind(mfa);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let checked!: () => void;
    const passed = new Promise<void>((r) => (checked = r));
    mfa.checkSecondFactor = async (...args) => {
      const result = await check(...args);
      checked();
      await gate;
      return result;
    };
    try {
      const login = t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: STRONG_PASSWORD, mfaCode: totpCode(secret, clock) },
      });
      await passed;
      expect((await reset(user.id, admin.accessToken)).statusCode).toBe(204);
      release();
      const res = await login;
      // The reset ends "every session of the user": one started from the lost factor, after the
      // reset, is ended too, and its login refused, like the MFA-turned-on race.
      expectProblem(res, 401, 'invalid_otp');
      expect(await t.app.services.sessions.listActive(user.id)).toEqual([]);
    } finally {
      mfa.checkSecondFactor = check;
      clock += STEP_MS;
    }
  });
});

describe('amr controls (expected to pass)', () => {
  it('a refresh after MFA is turned on keeps ["pwd"], and the step-up route refuses it', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(user);
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: user.refreshToken },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(jwtPayload(refreshed.json<{ accessToken: string }>().accessToken).amr).toEqual(['pwd']);
  });
});
