import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import { totpCode } from '../../src/crypto/index.js';
import { bearer, STRONG_PASSWORD } from './identity.js';

/** Steps of TOTP: a code works once per step, so tests move their app's clock on by steps. */
export const STEP_MS = 30_000;

/**
 * The codes of the steps around `nowMs`: the service accepts the step's own and one either side,
 * and one more step each way covers a clock that moves on between a test's computing a code and
 * the service's checking it (a real clock, or an app clock moved by a step).
 */
function codesNear(secret: string, nowMs: number): string[] {
  return [-2, -1, 0, 1, 2].map((d) => totpCode(secret, nowMs + d * STEP_MS));
}

/**
 * A well-formed code that `secret` does not accept around `nowMs`. "000000" unless it is the
 * current code is not enough: the steps either side are accepted too, and any of their codes
 * may be "000000" (3 in a million).
 */
export function wrongCode(secret: string, nowMs: number): string {
  const near = codesNear(secret, nowMs);
  const wrong = ['000000', '111111', '222222', '333333', '444444', '555555'].find(
    (code) => !near.includes(code),
  );
  if (wrong === undefined) throw new Error('six codes cannot all be near');
  return wrong;
}

/**
 * The code of the step `steps` away from `nowMs` (an old or a future code), or of the next step
 * further out when that one's code happens to be a code accepted now: six random digits equal
 * one of the few accepted codes about once in 200 000 draws, and the "old" code then works.
 */
export function codeOutsideWindow(secret: string, nowMs: number, steps: number): string {
  if (Math.abs(steps) <= 2) throw new Error('steps must be beyond the window and its margin');
  const near = codesNear(secret, nowMs);
  for (let step = steps; ; step += Math.sign(steps)) {
    const code = totpCode(secret, nowMs + step * STEP_MS);
    if (!near.includes(code)) return code;
  }
}

/** POST /api/v1/auth/mfa<path>, with the caller's bearer token when given. */
export function postMfa(
  app: BulwarkApp,
  path: string,
  accessToken: string | undefined,
  payload: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: `/api/v1/auth/mfa${path}`,
    headers: accessToken === undefined ? {} : bearer(accessToken),
    payload,
  });
}

/** POST /api/v1/auth/login with the password and any extra fields (`mfaCode`). */
export function loginWith(
  app: BulwarkApp,
  email: string,
  extra: Record<string, unknown> = {},
  password = STRONG_PASSWORD,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password, ...extra },
  });
}

/**
 * Turns MFA on through the API (setup, then confirm with the code at `nowMs`, the app's time).
 * The caller moves its clock past this step before it signs in with a code.
 */
export async function enrolMfa(
  app: BulwarkApp,
  accessToken: string,
  nowMs: number,
): Promise<{ secret: string; recoveryCodes: string[]; confirmCode: string }> {
  const setup = await postMfa(app, '/totp/setup', accessToken, { password: STRONG_PASSWORD });
  expect(setup.statusCode, setup.body).toBe(200);
  const { secret } = setup.json<{ secret: string }>();
  const confirmCode = totpCode(secret, nowMs);
  const confirm = await postMfa(app, '/totp/confirm', accessToken, { mfaCode: confirmCode });
  expect(confirm.statusCode, confirm.body).toBe(200);
  return {
    secret,
    recoveryCodes: confirm.json<{ recoveryCodes: string[] }>().recoveryCodes,
    confirmCode,
  };
}
