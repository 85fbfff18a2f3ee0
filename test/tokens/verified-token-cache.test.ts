import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { AccessTokens, type AccessClaims } from '../../src/tokens/access-token.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, jwtPayload, login, registerAndLogin, type LoggedIn } from '../helpers/identity.js';

/*
 * The cache of verified access tokens must never accept a token that a full verification would
 * refuse. Every check below compares the app (whose cache holds the token) with a verifier that
 * has never seen it (a fresh AccessTokens on the same keys: a full verification), and asserts
 * the refusal reason the app reports.
 */

const TTL = 900;
const TOLERANCE = 5;

let clock = Date.now();
let t: TestApp;
let alice: LoggedIn;
const events: RecordedSecurityEvent[] = [];

beforeAll(async () => {
  t = await buildTestApp(
    { tokens: { accessTokenTtlSeconds: TTL, clockToleranceSeconds: TOLERANCE } },
    { now: () => clock },
  );
  t.app.services.events.addSink({ record: (event) => void events.push(event) });
  alice = await registerAndLogin(t.app);
});
afterAll(async () => {
  await t.app.close();
});
beforeEach(() => {
  events.length = 0;
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A verifier with an empty cache: what a full verification says about `token` right now. */
function fullVerification(token: string): Promise<AccessClaims> {
  const { config } = t.app.services;
  return new AccessTokens(t.app.services.signingKeys, {
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    ttlSeconds: config.tokens.accessTokenTtlSeconds,
    clockToleranceSeconds: config.tokens.clockToleranceSeconds,
    now: () => clock,
  }).verify(token);
}

async function me(token: string): Promise<{ status: number; reason: unknown }> {
  events.length = 0;
  const res = await t.app.inject({
    method: 'GET',
    url: '/api/v1/users/me',
    headers: bearer(token),
  });
  const reason = events.find((e) => e.type === 'token.invalid')?.details?.reason;
  if (res.statusCode === 401) {
    expect(res.json()).toMatchObject({ code: 'invalid_token' });
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  }
  return { status: res.statusCode, reason };
}

async function expectAcceptedAndCached(token: string): Promise<void> {
  expect((await me(token)).status).toBe(200);
  // A second request is answered from the cache: the key store is not consulted again.
  const lookups = vi.spyOn(t.app.services.signingKeys, 'verificationKey');
  expect((await me(token)).status).toBe(200);
  expect(lookups).not.toHaveBeenCalled();
  lookups.mockRestore();
}

async function expectRefusedLikeFullVerification(token: string, reason: string): Promise<void> {
  await expect(fullVerification(token)).rejects.toMatchObject({ code: 'invalid_token' });
  expect(await me(token)).toEqual({ status: 401, reason });
  // And again: a refused token does not come back through the cache.
  expect(await me(token)).toEqual({ status: 401, reason });
}

function flipCharAt(token: string, index: number): string {
  const c = token[index]!;
  return `${token.slice(0, index)}${c === 'A' ? 'B' : 'A'}${token.slice(index + 1)}`;
}

describe('cache hits', () => {
  it('answers a repeated token without a second signature check', async () => {
    const { accessToken } = await login(t.app, alice.email);
    await expectAcceptedAndCached(accessToken);
    await expect(fullVerification(accessToken)).resolves.toMatchObject({ sub: alice.id });
  });

  it('refuses a cached token once the clock passes exp plus the tolerance', async () => {
    const start = clock;
    try {
      const { accessToken } = await login(t.app, alice.email);
      await expectAcceptedAndCached(accessToken);
      const { exp } = jwtPayload(accessToken) as { exp: number };
      clock = (exp + TOLERANCE - 1) * 1000;
      expect((await me(accessToken)).status).toBe(200);
      clock = (exp + TOLERANCE) * 1000;
      await expectRefusedLikeFullVerification(accessToken, 'verification failed');
    } finally {
      clock = start;
    }
  });

  it('refuses a cached token when the clock is turned back before its iat', async () => {
    const start = clock;
    try {
      const { accessToken } = await login(t.app, alice.email);
      await expectAcceptedAndCached(accessToken);
      const { iat } = jwtPayload(accessToken) as { iat: number };
      clock = (iat - TOLERANCE - 2) * 1000;
      await expectRefusedLikeFullVerification(accessToken, 'issued in the future');
    } finally {
      clock = start;
    }
  });

  it('refuses a cached token whose session ended (revocation is checked on every request)', async () => {
    const bob = await registerAndLogin(t.app);
    await expectAcceptedAndCached(bob.accessToken);
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(bob.accessToken),
    });
    expect(logout.statusCode).toBe(204);
    // The signature and claims are still fine; only the session check refuses it.
    await expect(fullVerification(bob.accessToken)).resolves.toMatchObject({ sid: bob.sessionId });
    expect(await me(bob.accessToken)).toEqual({ status: 401, reason: 'session ended' });
  });

  it.each([
    ['signature', (token: string) => flipCharAt(token, token.length - 10)],
    ['payload', (token: string) => flipCharAt(token, token.indexOf('.') + 20)],
    ['header', (token: string) => flipCharAt(token, 5)],
    ['last signature character', (token: string) => flipCharAt(token, token.length - 1)],
  ])('refuses a cached token with one byte of its %s changed', async (_part, tamper) => {
    const { accessToken } = await login(t.app, alice.email);
    await expectAcceptedAndCached(accessToken);
    const tampered = tamper(accessToken);
    expect(tampered).not.toBe(accessToken);
    await expect(fullVerification(tampered)).rejects.toMatchObject({ code: 'invalid_token' });
    const { status } = await me(tampered);
    expect(status).toBe(401);
    // The genuine token still works.
    expect((await me(accessToken)).status).toBe(200);
  });

  it('refuses a cached token with extra characters, or cut short', async () => {
    const { accessToken } = await login(t.app, alice.email);
    await expectAcceptedAndCached(accessToken);
    for (const variant of [`${accessToken}A`, accessToken.slice(0, -1), `${accessToken}.`]) {
      await expect(fullVerification(variant)).rejects.toMatchObject({ code: 'invalid_token' });
      expect((await me(variant)).status).toBe(401);
    }
  });
});

describe('full verification details', () => {
  it('refuses a signature in a non-canonical encoding (its 2 unused bits set)', async () => {
    const { accessToken } = await login(t.app, alice.email);
    const last = accessToken.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // Same 6-bit group with the low (unused) bits changed: the same 64 signature bytes.
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    const variant = `${accessToken.slice(0, -1)}${sibling}`;
    expect(Buffer.from(variant.split('.')[2]!, 'base64url')).toEqual(
      Buffer.from(accessToken.split('.')[2]!, 'base64url'),
    );
    expect(await me(variant)).toEqual({ status: 401, reason: 'verification failed' });
    expect((await me(accessToken)).status).toBe(200);
  });

  it.each([
    ['crit', { crit: ['b64'], b64: true }],
    ['b64', { b64: true }],
  ])('refuses a validly signed token with a %s header (never issued)', async (name, extra) => {
    const { accessToken } = await login(t.app, alice.email);
    const { kid, alg, keyObject: key } = t.app.services.signingKeys.signingKey();
    const token = await new SignJWT(jwtPayload(accessToken))
      .setProtectedHeader({ alg, kid, typ: 'at+jwt', ...extra })
      .sign(key);
    expect(await me(token)).toEqual({ status: 401, reason: `header ${name} is not accepted` });
  });

  it('accepts typ as a media type, as jose did (application/at+jwt, any case)', async () => {
    const { accessToken } = await login(t.app, alice.email);
    const { kid, alg, keyObject: key } = t.app.services.signingKeys.signingKey();
    for (const typ of ['application/at+jwt', 'AT+JWT']) {
      const token = await new SignJWT(jwtPayload(accessToken))
        .setProtectedHeader({ alg, kid, typ })
        .sign(key);
      expect((await me(token)).status).toBe(200);
    }
  });

  it('refuses a validly signed token that is not yet valid (nbf), and never caches it', async () => {
    const { accessToken } = await login(t.app, alice.email);
    const { kid, alg, keyObject: key } = t.app.services.signingKeys.signingKey();
    const nbf = Math.floor(clock / 1000) + TOLERANCE + 60;
    const token = await new SignJWT({ ...jwtPayload(accessToken), nbf })
      .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
      .sign(key);
    await expectRefusedLikeFullVerification(token, 'verification failed');
  });
});

describe('signing keys', () => {
  it('refuses a cached token once its signing key is removed from the store', async () => {
    const { accessToken } = await login(t.app, alice.email);
    await expectAcceptedAndCached(accessToken);
    const keys = t.app.services.signingKeys;
    const { kid } = keys.signingKey();
    // Another key becomes current, then the old one is deleted outright and the keys reloaded
    // (as every instance does every minute).
    await keys.rotate();
    await t.app.services.db.kysely.deleteFrom('signing_keys').where('id', '=', kid).execute();
    await keys.reload();
    await expectRefusedLikeFullVerification(accessToken, 'unknown kid');
  });

  it('refuses a cached token once its retired key expires', async () => {
    const start = clock;
    try {
      // A token lifetime longer than the key's retirement: only the key's expiry can refuse it.
      const long = await buildTestApp(
        {
          tokens: { accessTokenTtlSeconds: 86_400, clockToleranceSeconds: TOLERANCE },
        },
        { now: () => clock },
      );
      try {
        const carol = await registerAndLogin(long.app);
        const res = () =>
          long.app.inject({
            method: 'GET',
            url: '/api/v1/users/me',
            headers: bearer(carol.accessToken),
          });
        expect((await res()).statusCode).toBe(200);
        expect((await res()).statusCode).toBe(200);
        const keys = long.app.services.signingKeys;
        const { kid } = keys.signingKey();
        await keys.rotate();
        expect((await res()).statusCode).toBe(200); // retired keys keep verifying for a while
        const row = await long.app.services.db.kysely
          .selectFrom('signing_keys')
          .select('expires_at')
          .where('id', '=', kid)
          .executeTakeFirstOrThrow();
        clock = row.expires_at! + 1;
        expect(keys.usable(kid)).toBeUndefined();
        const refused = await res();
        expect(refused.statusCode).toBe(401);
        expect(refused.json()).toMatchObject({ code: 'invalid_token' });
      } finally {
        await long.app.close();
      }
    } finally {
      clock = start;
    }
  });

  it('re-verifies cached tokens after the keys are reloaded, and keeps accepting good ones', async () => {
    const { accessToken } = await login(t.app, alice.email);
    await expectAcceptedAndCached(accessToken);
    const keys = t.app.services.signingKeys;
    await keys.reload();
    const lookups = vi.spyOn(keys, 'verificationKey');
    expect((await me(accessToken)).status).toBe(200);
    expect(lookups).toHaveBeenCalledTimes(1);
  });

  it('never caches a token signed by a key that is not ours under our kid', async () => {
    const { accessToken } = await login(t.app, alice.email);
    const claims = jwtPayload(accessToken);
    const { kid } = t.app.services.signingKeys.signingKey();
    const { generateKeyPair } = await import('jose');
    const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .sign(attacker.privateKey);
    for (let i = 0; i < 2; i++) {
      expect(await me(forged)).toEqual({ status: 401, reason: 'verification failed' });
    }
  });
});

describe('bounds', () => {
  it('holds at most its capacity: the least recently used token is verified in full again', async () => {
    const keys = t.app.services.signingKeys;
    const { config } = t.app.services;
    const tokens = new AccessTokens(keys, {
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
      ttlSeconds: TTL,
      clockToleranceSeconds: TOLERANCE,
      verifiedCacheCapacity: 2,
      now: () => clock,
    });
    const subject = { userId: alice.id, sessionId: alice.sessionId, role: 'user' };
    const [a, b, c] = [
      await tokens.issue(subject),
      await tokens.issue(subject),
      await tokens.issue(subject),
    ];
    const lookups = vi.spyOn(keys, 'verificationKey');
    for (const token of [a, b, a, b]) await tokens.verify(token);
    expect(lookups).toHaveBeenCalledTimes(2);
    await tokens.verify(c); // evicts a (b was used more recently)
    await tokens.verify(b);
    expect(lookups).toHaveBeenCalledTimes(3);
    await tokens.verify(a);
    expect(lookups).toHaveBeenCalledTimes(4);
  });

  it('refuses ES256 tokens with a tampered signature, and caches good ones', async () => {
    const es = await buildTestApp({ tokens: { algorithm: 'ES256' } });
    try {
      const dave = await registerAndLogin(es.app);
      const get = (token: string) =>
        es.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
      expect((await get(dave.accessToken)).statusCode).toBe(200);
      const lookups = vi.spyOn(es.app.services.signingKeys, 'verificationKey');
      expect((await get(dave.accessToken)).statusCode).toBe(200);
      expect(lookups).not.toHaveBeenCalled();
      const tampered = flipCharAt(dave.accessToken, dave.accessToken.length - 20);
      expect((await get(tampered)).statusCode).toBe(401);
    } finally {
      await es.app.close();
    }
  });
});
