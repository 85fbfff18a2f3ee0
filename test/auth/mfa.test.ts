import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, totpCode } from '../../src/crypto/index.js';
import { ENCRYPTED_COLUMNS, fieldContext, MfaRepository } from '../../src/db/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  codeOutsideWindow,
  enrolMfa,
  loginWith,
  postMfa,
  STEP_MS,
  wrongCode,
} from '../helpers/mfa.js';
import {
  bearer,
  jwtPayload,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { captureEvents, expectProblem, getMe } from './support.js';

let t: TestApp;
// The app's clock: a TOTP code works once per 30-second step, so tests move time on by steps.
let clock = Date.UTC(2026, 10, 30, 12, 0, 10);

beforeAll(async () => {
  t = await buildTestApp({ tokens: { issuer: 'https://id.example.com' } }, { now: () => clock });
});
afterAll(async () => {
  await t.app.close();
});

function post(url: string, accessToken: string | undefined, payload: Record<string, unknown>) {
  return postMfa(t.app, url, accessToken, payload);
}

function login(email: string, extra: Record<string, unknown> = {}, password = STRONG_PASSWORD) {
  return loginWith(t.app, email, extra, password);
}

/** Enrols an authenticator for `user`; returns its secret and recovery codes. */
async function enrol(user: LoggedIn): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrolled = await enrolMfa(t.app, user.accessToken, clock);
  clock += STEP_MS;
  return enrolled;
}

describe('TOTP enrolment', () => {
  it('answers a secret and an otpauth URI, and turns MFA on only with a first code', async () => {
    const user = await registerAndLogin(t.app);
    const events = captureEvents(t.app);
    const setup = await post('/totp/setup', user.accessToken, { password: STRONG_PASSWORD });
    expect(setup.statusCode, setup.body).toBe(200);
    expect(setup.headers['cache-control']).toBe('no-store');
    const body = setup.json<Record<string, unknown>>();
    expect(body).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30 });
    const secret = body.secret as string;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(body.otpauthUri as string);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('id.example.com');
    expect(decodeURIComponent(uri.pathname)).toContain(user.email);

    // Pending: not on yet, and a sign-in needs no code.
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ mfaEnabled: false });
    expect((await login(user.email)).statusCode).toBe(200);

    const wrong = codeOutsideWindow(secret, clock, 10);
    expectProblem(
      await post('/totp/confirm', user.accessToken, { mfaCode: wrong }),
      401,
      'invalid_otp',
    );
    const confirm = await post('/totp/confirm', user.accessToken, {
      mfaCode: totpCode(secret, clock),
    });
    expect(confirm.statusCode, confirm.body).toBe(200);
    expect(confirm.headers['cache-control']).toBe('no-store');
    const { recoveryCodes } = confirm.json<{ recoveryCodes: string[] }>();
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);

    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ mfaEnabled: true });
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/mfa',
      headers: bearer(user.accessToken),
    });
    expect(status.json()).toEqual({ enabled: true, recoveryCodesRemaining: 10 });
    expect(events.map((e) => [e.type, e.outcome, e.details?.reason ?? null])).toEqual([
      ['login.succeeded', 'success', null],
      ['mfa.enabled', 'failure', 'wrong_mfa_code'],
      ['mfa.enabled', 'success', null],
      // The session of the sign-in made while enrolment was pending: any other session ends.
      ['session.ended', 'success', 'mfa_enabled'],
    ]);
    clock += STEP_MS;
  });

  it('refuses setup without a token, with a wrong password, and while MFA is on', async () => {
    const user = await registerAndLogin(t.app);
    expectProblem(
      await post('/totp/setup', undefined, { password: STRONG_PASSWORD }),
      401,
      'authentication_required',
    );
    expectProblem(
      await post('/totp/setup', user.accessToken, { password: 'not the password at all' }),
      401,
      'invalid_credentials',
    );
    expectProblem(await post('/totp/setup', user.accessToken, {}), 400, 'validation_failed');
    expectProblem(
      await post('/totp/setup', user.accessToken, { password: STRONG_PASSWORD, extra: 1 }),
      400,
      'validation_failed',
    );
    await enrol(user);
    expectProblem(
      await post('/totp/setup', user.accessToken, { password: STRONG_PASSWORD }),
      409,
      'mfa_already_enabled',
    );
  });

  // docs/security.md: accounts without a password (made by a provider sign-in) cannot enrol.
  it('refuses setup to an account without a password (409 conflict), and stores nothing', async () => {
    const user = await registerAndLogin(t.app);
    await t.app.services.usersRepo.update(user.id, { password_hash: null });
    expectProblem(
      await post('/totp/setup', user.accessToken, { password: STRONG_PASSWORD }),
      409,
      'conflict',
    );
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/mfa',
      headers: bearer(user.accessToken),
    });
    expect(status.json()).toMatchObject({ enabled: false });
    const pending = await t.testDb.db.kysely
      .selectFrom('totp_factors')
      .select('user_id')
      .where('user_id', '=', user.id)
      .execute();
    expect(pending).toEqual([]);
  });

  it('refuses to confirm with no setup, an expired setup, a malformed code, or twice', async () => {
    const user = await registerAndLogin(t.app);
    expectProblem(
      await post('/totp/confirm', user.accessToken, { mfaCode: '123456' }),
      409,
      'mfa_setup_required',
    );
    const setup = await post('/totp/setup', user.accessToken, { password: STRONG_PASSWORD });
    const { secret } = setup.json<{ secret: string }>();
    for (const mfaCode of ['12345', '1234567', 'abcdef', ' 123456']) {
      expectProblem(
        await post('/totp/confirm', user.accessToken, { mfaCode }),
        400,
        'validation_failed',
      );
    }
    clock += 11 * 60_000;
    expectProblem(
      await post('/totp/confirm', user.accessToken, { mfaCode: totpCode(secret, clock) }),
      409,
      'mfa_setup_required',
    );
    // A new setup replaces the old secret: a code from the old one no longer confirms.
    const again = await post('/totp/setup', user.accessToken, { password: STRONG_PASSWORD });
    const fresh = again.json<{ secret: string }>().secret;
    expect(fresh).not.toBe(secret);
    expectProblem(
      await post('/totp/confirm', user.accessToken, { mfaCode: totpCode(secret, clock) }),
      401,
      'invalid_otp',
    );
    const ok = await post('/totp/confirm', user.accessToken, { mfaCode: totpCode(fresh, clock) });
    expect(ok.statusCode).toBe(200);
    expectProblem(
      await post('/totp/confirm', user.accessToken, { mfaCode: totpCode(fresh, clock + STEP_MS) }),
      409,
      'mfa_already_enabled',
    );
    clock += STEP_MS;
  });

  it('stores the secret encrypted, bound to its user', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrol(user);
    const row = await t.app.services.db.kysely
      .selectFrom('totp_factors')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_enc).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain(secret.slice(0, 8));
    const codes = await t.app.services.db.kysely
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('user_id', '=', user.id)
      .execute();
    expect(codes).toHaveLength(10);
    for (const { code_hash } of codes) expect(code_hash).toMatch(/^[0-9a-f]{64}$/);
    // Another user's row id in the AAD: the envelope does not open.
    const cipher = new (await import('../../src/crypto/index.js')).FieldCipher(
      t.app.services.keyring,
      ENCRYPTED_COLUMNS.totpSecret.purpose,
    );
    expect(
      cipher.decrypt(row.secret_enc, fieldContext(ENCRYPTED_COLUMNS.totpSecret, user.id)),
    ).toBe(secret);
    expect(() =>
      cipher.decrypt(
        row.secret_enc,
        fieldContext(ENCRYPTED_COLUMNS.totpSecret, crypto.randomUUID()),
      ),
    ).toThrow();
  });
});

describe('signing in with MFA on', () => {
  it('asks for a code, takes a current one once, and refuses wrong, old and replayed codes', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrol(user);
    const events = captureEvents(t.app);

    const missing = await login(user.email);
    const body = expectProblem(missing, 401, 'mfa_required');
    expect(JSON.stringify(body)).not.toMatch(/accessToken|refreshToken/);
    // A wrong password says nothing about MFA.
    expectProblem(
      await login(user.email, { mfaCode: totpCode(secret, clock) }, 'wrong password here'),
      401,
      'invalid_credentials',
    );
    expectProblem(
      await login(user.email, {
        mfaCode: wrongCode(secret, clock),
      }),
      401,
      'invalid_otp',
    );
    expectProblem(
      await login(user.email, { mfaCode: codeOutsideWindow(secret, clock, -3) }),
      401,
      'invalid_otp',
    );
    expectProblem(
      await login(user.email, { mfaCode: codeOutsideWindow(secret, clock, 3) }),
      401,
      'invalid_otp',
    );

    const code = totpCode(secret, clock);
    const ok = await login(user.email, { mfaCode: code });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({
      tokenType: 'Bearer',
      user: { id: user.id, mfaEnabled: true },
    });
    // The same code again, even within its step: refused.
    expectProblem(await login(user.email, { mfaCode: code }), 401, 'invalid_otp');
    // The previous step's code, still inside the window, is older than the one used: refused.
    expectProblem(
      await login(user.email, { mfaCode: totpCode(secret, clock - STEP_MS) }),
      401,
      'invalid_otp',
    );
    // The next step's code (a phone clock ahead) works.
    expect(
      (await login(user.email, { mfaCode: totpCode(secret, clock + STEP_MS) })).statusCode,
    ).toBe(200);
    clock += 2 * STEP_MS;

    expect(
      events
        .filter((e) => e.type.startsWith('login') || e.type.startsWith('mfa'))
        .map((e) => [e.type, e.details?.reason ?? null]),
    ).toEqual([
      ['mfa.challenged', null],
      ['login.failed', 'wrong_password'],
      ['login.failed', 'wrong_mfa_code'],
      ['login.failed', 'wrong_mfa_code'],
      ['login.failed', 'wrong_mfa_code'],
      ['login.succeeded', null],
      ['login.failed', 'mfa_code_replayed'],
      ['login.failed', 'mfa_code_replayed'],
      ['login.succeeded', null],
    ]);
  });

  it('takes each recovery code once, in any case and spacing', async () => {
    const user = await registerAndLogin(t.app);
    const { recoveryCodes } = await enrol(user);
    const events = captureEvents(t.app);
    const first = recoveryCodes[0]!;
    const typed = first.toUpperCase().replaceAll('-', ' ');
    expect((await login(user.email, { mfaCode: typed })).statusCode).toBe(200);
    expectProblem(await login(user.email, { mfaCode: first }), 401, 'invalid_otp');
    expectProblem(await login(user.email, { mfaCode: 'aaaa-bbbb-cccc' }), 401, 'invalid_otp');
    expectProblem(await login(user.email, { mfaCode: 'x'.repeat(32) }), 401, 'invalid_otp');
    expectProblem(await login(user.email, { mfaCode: 'x'.repeat(33) }), 400, 'validation_failed');
    const used = events.find((e) => e.type === 'mfa.recovery_code_used');
    expect(used).toMatchObject({
      outcome: 'success',
      target: { type: 'user', id: user.id },
      details: { remaining: 9 },
    });
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/mfa',
      headers: bearer(user.accessToken),
    });
    expect(status.json()).toEqual({ enabled: true, recoveryCodesRemaining: 9 });
    // Another user's recovery code is not this user's.
    const other = await registerAndLogin(t.app);
    const otherCodes = (await enrol(other)).recoveryCodes;
    expectProblem(await login(user.email, { mfaCode: otherCodes[0]! }), 401, 'invalid_otp');
  });

  it('stores recovery codes keyed, not as bare SHA-256 hashes a database copy could be searched for', async () => {
    const storedHashes = async (userId: string) =>
      (
        await t.app.services.db.kysely
          .selectFrom('recovery_codes')
          .select('code_hash')
          .where('user_id', '=', userId)
          .execute()
      ).map((row) => row.code_hash);
    const user = await registerAndLogin(t.app);
    const { recoveryCodes } = await enrol(user);
    const stored = await storedHashes(user.id);
    expect(stored).toHaveLength(10);
    for (const code of recoveryCodes) {
      expect(stored).not.toContain(sha256Hex(code.replaceAll('-', '')));
    }
    // New codes are keyed too.
    const fresh = await post('/recovery-codes', user.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: recoveryCodes[0],
    });
    expect(fresh.statusCode, fresh.body).toBe(200);
    const renewed = await storedHashes(user.id);
    for (const code of fresh.json<{ recoveryCodes: string[] }>().recoveryCodes) {
      expect(renewed).not.toContain(sha256Hex(code.replaceAll('-', '')));
    }
  });

  it('still takes, once, a recovery code stored as a bare SHA-256 before codes were keyed', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(user);
    // A code issued by an earlier version: its row holds SHA-256 of the bare code.
    const legacy = 'abcd-efgh-jkmn';
    await t.app.services.db.kysely
      .insertInto('recovery_codes')
      .values({
        id: crypto.randomUUID(),
        user_id: user.id,
        code_hash: sha256Hex('abcdefghjkmn'),
        created_at: clock,
        used_at: null,
      })
      .execute();
    expect((await login(user.email, { mfaCode: legacy.toUpperCase() })).statusCode).toBe(200);
    expectProblem(await login(user.email, { mfaCode: legacy }), 401, 'invalid_otp');
    // Not for another account: the legacy row belongs to this user only.
    const other = await registerAndLogin(t.app);
    await enrol(other);
    expectProblem(await login(other.email, { mfaCode: legacy }), 401, 'invalid_otp');
  });

  it('new recovery codes made for an authenticator replaced meanwhile are not stored', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(user);
    const repo = new MfaRepository(t.app.services.db.kysely);
    const factor = (await repo.findFactor(user.id))!;
    const before = await repo.countUnusedRecoveryCodes(user.id);
    // Turned off and on again between the request's read and its write: codes keyed by the
    // old secret would never work for the new one.
    await repo.remove(user.id, clock);
    await enrol(user);
    const hashes = ['a'.repeat(64)];
    expect(await repo.replaceRecoveryCodes(user.id, factor.confirmed_at!, hashes, clock)).toBe(
      false,
    );
    expect(await repo.countUnusedRecoveryCodes(user.id)).toBe(before);
    const current = (await repo.findFactor(user.id))!;
    expect(await repo.replaceRecoveryCodes(user.id, current.confirmed_at!, hashes, clock)).toBe(
      true,
    );
    expect(await repo.countUnusedRecoveryCodes(user.id)).toBe(1);
  });

  it('counts wrong codes against the login throttle, even with the right password', async () => {
    const throttled = await buildTestApp(
      { rateLimit: { login: { accountClientFailures: 3 } } },
      { now: () => clock },
    );
    try {
      const user = await registerAndLogin(throttled.app);
      const setup = await throttled.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/totp/setup',
        headers: bearer(user.accessToken),
        payload: { password: STRONG_PASSWORD },
      });
      const { secret } = setup.json<{ secret: string }>();
      await throttled.app.inject({
        method: 'POST',
        url: '/api/v1/auth/mfa/totp/confirm',
        headers: bearer(user.accessToken),
        payload: { mfaCode: totpCode(secret, clock) },
      });
      clock += STEP_MS;
      const attempt = (mfaCode: string) =>
        throttled.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: user.email, password: STRONG_PASSWORD, mfaCode },
        });
      const wrong = wrongCode(secret, clock);
      for (let i = 0; i < 3; i++) expectProblem(await attempt(wrong), 401, 'invalid_otp');
      const limited = await attempt(totpCode(secret, clock));
      expectProblem(limited, 429, 'rate_limited');
      expect(limited.headers['retry-after']).toBeDefined();
    } finally {
      await throttled.app.close();
    }
  });
});

describe('turning MFA off and new recovery codes', () => {
  it('takes the password and a code; afterwards a password alone signs in', async () => {
    const user = await registerAndLogin(t.app);
    const { secret } = await enrol(user);
    const events = captureEvents(t.app);
    expectProblem(
      await post('/disable', user.accessToken, {
        password: 'wrong password here',
        mfaCode: totpCode(secret, clock),
      }),
      401,
      'invalid_credentials',
    );
    expectProblem(
      await post('/disable', user.accessToken, {
        password: STRONG_PASSWORD,
        mfaCode: wrongCode(secret, clock),
      }),
      401,
      'invalid_otp',
    );
    expectProblem(
      await post('/disable', user.accessToken, { password: STRONG_PASSWORD }),
      400,
      'validation_failed',
    );
    const off = await post('/disable', user.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(secret, clock),
    });
    expect(off.statusCode, off.body).toBe(204);
    clock += STEP_MS;
    expect((await getMe(t.app, user.accessToken)).json()).toMatchObject({ mfaEnabled: false });
    expect((await login(user.email)).statusCode).toBe(200);
    expectProblem(
      await post('/disable', user.accessToken, { password: STRONG_PASSWORD, mfaCode: '123456' }),
      409,
      'mfa_not_enabled',
    );
    const rows = await t.app.services.db.kysely
      .selectFrom('recovery_codes')
      .select('id')
      .where('user_id', '=', user.id)
      .execute();
    expect(rows).toEqual([]);
    expect(
      events
        .filter((e) => e.type === 'mfa.disabled')
        .map((e) => [e.outcome, e.details?.reason ?? e.details?.by]),
    ).toEqual([
      ['failure', 'wrong_password'],
      ['failure', 'wrong_mfa_code'],
      ['success', 'self'],
    ]);
  });

  it('replaces the recovery codes: the old ones stop working', async () => {
    const user = await registerAndLogin(t.app);
    const { secret, recoveryCodes } = await enrol(user);
    const res = await post('/recovery-codes', user.accessToken, {
      password: STRONG_PASSWORD,
      mfaCode: totpCode(secret, clock),
    });
    expect(res.statusCode, res.body).toBe(200);
    // Shown once: no cache may keep them.
    expect(res.headers['cache-control']).toBe('no-store');
    clock += STEP_MS;
    const fresh = res.json<{ recoveryCodes: string[] }>().recoveryCodes;
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => recoveryCodes.includes(c))).toBe(false);
    expectProblem(await login(user.email, { mfaCode: recoveryCodes[1]! }), 401, 'invalid_otp');
    expect((await login(user.email, { mfaCode: fresh[1]! })).statusCode).toBe(200);
    const plain = await registerAndLogin(t.app);
    expectProblem(
      await post('/recovery-codes', plain.accessToken, {
        password: STRONG_PASSWORD,
        mfaCode: '123456',
      }),
      409,
      'mfa_not_enabled',
    );
  });

  it('an administrator reset turns MFA off for a user who lost everything', async () => {
    const user = await registerAndLogin(t.app);
    await enrol(user);
    expectProblem(await login(user.email), 401, 'mfa_required');
    expect(await t.app.services.mfa.reset(user.id, { actorId: null })).toBe(true);
    expect(await t.app.services.mfa.reset(user.id, { actorId: null })).toBe(false);
    expect((await login(user.email)).statusCode).toBe(200);
  });
});

describe('the amr claim and step-up to MFA', () => {
  function stepUp(accessToken?: string) {
    return t.app.inject({
      method: 'GET',
      url: '/api/v1/examples/step-up',
      headers: accessToken === undefined ? {} : bearer(accessToken),
    });
  }

  it('records how a session signed in, in every access token of it, refreshes included', async () => {
    const user = await registerAndLogin(t.app);
    expect(jwtPayload(user.accessToken).amr).toEqual(['pwd']);
    const { secret } = await enrol(user);
    const res = await login(user.email, { mfaCode: totpCode(secret, clock) });
    clock += STEP_MS;
    const { accessToken, refreshToken } = res.json<{ accessToken: string; refreshToken: string }>();
    expect(jwtPayload(accessToken).amr).toEqual(['pwd', 'otp', 'mfa']);
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken },
    });
    expect(jwtPayload(refreshed.json<{ accessToken: string }>().accessToken).amr).toEqual([
      'pwd',
      'otp',
      'mfa',
    ]);
  });

  it('app.requireMfa lets a session with a second factor through, and challenges others', async () => {
    const user = await registerAndLogin(t.app);
    const events = captureEvents(t.app);
    const weak = await stepUp(user.accessToken);
    expectProblem(weak, 401, 'insufficient_user_authentication');
    expect(weak.headers['www-authenticate']).toMatch(
      /^Bearer error="insufficient_user_authentication", error_description="/,
    );
    expect(events.at(-1)).toMatchObject({
      type: 'access.denied',
      actorId: user.id,
      details: { reason: 'mfa_required', status: 401, route: '/api/v1/examples/step-up' },
    });
    expectProblem(await stepUp(), 401, 'authentication_required');

    const { secret } = await enrol(user);
    // Turning MFA on does not upgrade the session that did it: it signed in with a password.
    expectProblem(await stepUp(user.accessToken), 401, 'insufficient_user_authentication');
    const res = await login(user.email, { mfaCode: totpCode(secret, clock) });
    clock += STEP_MS;
    const strong = await stepUp(res.json<{ accessToken: string }>().accessToken);
    expect(strong.statusCode, strong.body).toBe(200);
    expect(strong.json()).toEqual({ amr: ['pwd', 'otp', 'mfa'] });
  });
});
