import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import { totpCode } from '../../src/crypto/index.js';
import { bearer, STRONG_PASSWORD } from './identity.js';

/** Steps of TOTP: a code works once per step, so tests move their app's clock on by steps. */
export const STEP_MS = 30_000;

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
