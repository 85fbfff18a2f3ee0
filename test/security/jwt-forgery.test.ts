import { createPublicKey, randomUUID } from 'node:crypto';
import {
  base64url,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTHeaderParameters,
} from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  jwtPayload,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';

/*
 * Hostile access tokens (RFC 8725, "JSON Web Token Best Current Practices"), each sent to a real
 * protected route. Every forgery must end in the same 401 invalid_token, say nothing about why,
 * and leave a token.invalid event whose reason shows which check caught it: a forgery signed with
 * the server's own key must be stopped by the claim checks, not by luck in the signature check.
 */

const ME = '/api/v1/users/me';
const TTL = 900;
const TOLERANCE = 5;

// A clock the test moves: tokens expire without waiting.
let clock = Date.now();
let t: TestApp;
let alice: LoggedIn;
let bob: LoggedIn;
const events: RecordedSecurityEvent[] = [];

beforeAll(async () => {
  t = await buildTestApp(
    { tokens: { accessTokenTtlSeconds: TTL, clockToleranceSeconds: TOLERANCE } },
    { now: () => clock },
  );
  t.app.services.events.addSink({ record: (event) => void events.push(event) });
  alice = await registerAndLogin(t.app);
  bob = await registerAndLogin(t.app);
});
afterAll(async () => {
  await t.app.close();
});
beforeEach(() => {
  events.length = 0;
});

const nowSeconds = (): number => Math.floor(clock / 1000);

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

function decodeJson(part: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(part))) as Record<string, unknown>;
}

/** Splits a compact JWS into its three parts. */
function parts(token: string): [string, string, string] {
  const [header, payload, signature] = token.split('.');
  return [header!, payload!, signature!];
}

interface Forgery {
  /** Header members to add; `undefined` removes one (e.g. `{ kid: undefined }`). */
  header?: Record<string, unknown>;
  /** Claims to add or replace; `undefined` removes one (e.g. `{ exp: undefined }`). */
  claims?: Record<string, unknown>;
  /** Signs with this key instead of the server's current one (header.alg must match it). */
  key?: CryptoKey | Uint8Array;
}

/**
 * A token for `user` signed by default with the server's REAL current signing key, with the
 * exact claims and header the server issues; each attack changes one thing.
 */
async function forge(user: LoggedIn, forgery: Forgery = {}): Promise<string> {
  const signing = t.app.services.signingKeys.signingKey();
  const iat = nowSeconds();
  const claims: Record<string, unknown> = {
    iss: t.config.tokens.issuer,
    aud: t.config.tokens.audience,
    sub: user.id,
    sid: user.sessionId,
    role: 'user',
    jti: randomUUID(),
    iat,
    exp: iat + TTL,
    ...forgery.claims,
  };
  const header: Record<string, unknown> = {
    alg: signing.alg,
    kid: signing.kid,
    typ: 'at+jwt',
    ...forgery.header,
  };
  const defined = <T extends Record<string, unknown>>(record: T): T =>
    Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
  return new SignJWT(defined(claims))
    .setProtectedHeader(defined(header) as JWTHeaderParameters)
    .sign(forgery.key ?? signing.keyObject);
}

/** An unsigned token with any header and payload, and the given signature part. */
function unsigned(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signature = '',
): string {
  return `${encodeJson(header)}.${encodeJson(payload)}.${signature}`;
}

function realPayload(user: LoggedIn): Record<string, unknown> {
  return jwtPayload(user.accessToken);
}

async function attackerEd25519(): Promise<{ publicKey: CryptoKey; privateKey: CryptoKey }> {
  return generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
}

function serverJwk(): JWK {
  const { kid } = t.app.services.signingKeys.signingKey();
  const jwk = t.app.services.signingKeys.jwks().keys.find((k) => k.kid === kid);
  if (!jwk) throw new Error('current key is not in the JWKS');
  return jwk;
}

// Text that would tell an attacker which check failed, or which library did the checking.
const LEAKS = [
  /jose/i,
  /\bJW[STKE]\b/,
  /signature/i,
  /claim/i,
  /\bkid\b/i,
  /\balg\b/i,
  /\b(iss|aud|exp|iat|typ|sid)\b/,
  /session/i,
  /ERR_/,
  /Error/,
  /\bat \S+ \(/,
  /node_modules/,
];

async function callMe(authorization: string) {
  return t.app.inject({ method: 'GET', url: ME, headers: { authorization } });
}

/**
 * Sends `authorization` to a protected route and checks a refusal: 401 with `challenge`, exactly
 * the problem document `problem` (plus the request id), nothing of the credential or internals
 * echoed, and one token.invalid event with `reason`, which never names the token.
 */
async function expectRefusal(
  authorization: string,
  challenge: string | RegExp,
  problem: Record<string, unknown>,
  reason: string | RegExp,
): Promise<void> {
  events.length = 0;
  const res = await callMe(authorization);
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(challenge);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<Record<string, unknown>>();
  expect(body).toEqual({ ...problem, status: 401, requestId: res.headers['x-request-id'] });
  for (const pattern of LEAKS) expect(res.body, String(pattern)).not.toMatch(pattern);
  // Nothing of the presented credential is echoed back.
  const credential = authorization.replace(/^\S+\s*/, '');
  if (credential.length >= 16) expect(res.body).not.toContain(credential.slice(0, 16));

  const invalid = events.filter((e) => e.type === 'token.invalid');
  expect(invalid).toHaveLength(1);
  const event = invalid[0]!;
  expect(event).toMatchObject({ outcome: 'denied', requestId: body.requestId });
  expect(event.details?.reason).toMatch(reason);
  // The event names the reason, never the token.
  if (credential.length >= 16) expect(JSON.stringify(event)).not.toContain(credential);
}

/**
 * The one answer every bad bearer token gets; `reason` is the internal reason recorded in the
 * token.invalid event (never sent to the client).
 */
function expectRejected(authorization: string, reason: string | RegExp): Promise<void> {
  return expectRefusal(
    authorization,
    /error="invalid_token"/,
    {
      type: 'urn:bulwark:problem:invalid_token',
      title: 'Invalid token',
      detail: 'The access token is invalid or expired.',
      code: 'invalid_token',
    },
    reason,
  );
}

/**
 * Credentials of another scheme (or none recognisable): the RFC 6750 §3.1 answer, 401
 * authentication_required with a bare `Bearer` challenge and no error code; still recorded.
 */
function expectNotBearer(authorization: string): Promise<void> {
  return expectRefusal(
    authorization,
    /^Bearer realm="bulwark"$/,
    {
      type: 'urn:bulwark:problem:authentication_required',
      title: expect.any(String) as unknown,
      detail: 'Send an access token as Authorization: Bearer <token>.',
      code: 'authentication_required',
    },
    /^not a bearer token$/,
  );
}

async function expectAccepted(token: string, user: LoggedIn): Promise<void> {
  const res = await callMe(`Bearer ${token}`);
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json<{ id: string }>().id).toBe(user.id);
}

describe('control: genuine tokens', () => {
  it('accepts the access token the server issued at login', async () => {
    await expectAccepted(alice.accessToken, alice);
    expect(events.filter((e) => e.type === 'token.invalid')).toEqual([]);
  });

  it('accepts a token the test signs with the server key and the issued claims', async () => {
    // Proves `forge` builds exactly what the server accepts, so each attack below fails only
    // because of the one thing it changes.
    await expectAccepted(await forge(alice), alice);
    await expectAccepted(await forge(bob), bob);
  });

  it('tolerates clock skew up to clockToleranceSeconds on iat', async () => {
    await expectAccepted(
      await forge(alice, { claims: { iat: nowSeconds() + TOLERANCE - 1 } }),
      alice,
    );
  });

  it('answers a request without credentials with authentication_required', async () => {
    const res = await t.app.inject({ method: 'GET', url: ME });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'authentication_required' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
  });
});

describe('unsigned and altered tokens', () => {
  it('refuses alg "none" with an empty signature', async () => {
    const { kid } = t.app.services.signingKeys.signingKey();
    const token = unsigned({ alg: 'none', typ: 'at+jwt', kid }, realPayload(alice));
    await expectRejected(`Bearer ${token}`, 'not a compact JWS');
    // ...also without a kid, and with the casing variants some libraries accepted.
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await expectRejected(
        `Bearer ${unsigned({ alg, typ: 'at+jwt' }, realPayload(alice))}`,
        'not a compact JWS',
      );
    }
  });

  it('refuses alg "none" with a dummy signature', async () => {
    const { kid } = t.app.services.signingKeys.signingKey();
    const token = unsigned({ alg: 'none', typ: 'at+jwt', kid }, realPayload(alice), 'AAAA');
    await expectRejected(`Bearer ${token}`, 'algorithm does not match the key');
  });

  it('refuses a header that is not a JSON object in strict base64url', async () => {
    const [, payload, signature] = parts(alice.accessToken);
    const b64 = (text: string): string => Buffer.from(text).toString('base64url');
    for (const header of [
      b64('[]'),
      b64('null'),
      b64('"EdDSA"'),
      b64('{"alg":"EdDSA",'),
      b64('{"alg":"EdDSA"}{}'),
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).toString('base64url'), // {"\xff":1}
      `${b64('{"alg":"EdDSA","typ":"at+jwt"}')}A`, // a length no encoding produces
    ]) {
      await expectRejected(`Bearer ${header}.${payload}.${signature}`, 'unreadable header');
    }
  });

  it('refuses a real token with its signature stripped', async () => {
    const [header, payload] = parts(alice.accessToken);
    await expectRejected(`Bearer ${header}.${payload}.`, 'not a compact JWS');
    await expectRejected(`Bearer ${header}.${payload}`, 'not a compact JWS');
  });

  it('refuses a real token whose payload was edited (role → admin), keeping the signature', async () => {
    const [header, , signature] = parts(alice.accessToken);
    const payload = encodeJson({ ...realPayload(alice), role: 'admin' });
    await expectRejected(`Bearer ${header}.${payload}.${signature}`, 'verification failed');
  });

  it('refuses a real token whose subject was switched to another user', async () => {
    const [header, , signature] = parts(alice.accessToken);
    const payload = encodeJson({ ...realPayload(alice), sub: bob.id, sid: bob.sessionId });
    await expectRejected(`Bearer ${header}.${payload}.${signature}`, 'verification failed');
  });

  it('refuses a real token whose header was edited, keeping the signature', async () => {
    const [, payload, signature] = parts(alice.accessToken);
    const header = encodeJson({
      ...decodeJson(parts(alice.accessToken)[0]),
      extra: 1,
    });
    await expectRejected(`Bearer ${header}.${payload}.${signature}`, 'verification failed');
  });

  it("refuses a signature taken from another user's token", async () => {
    const [header, payload] = parts(alice.accessToken);
    const [, , bobSignature] = parts(bob.accessToken);
    await expectRejected(`Bearer ${header}.${payload}.${bobSignature}`, 'verification failed');
  });
});

describe('key confusion and foreign keys', () => {
  it('refuses HS256/384/512 tokens whose HMAC secret is the public key (every encoding of it)', async () => {
    const jwk = serverJwk();
    const raw = base64url.decode(jwk.x!);
    const spki = createPublicKey({ key: jwk, format: 'jwk' });
    const secrets: [string, Uint8Array][] = [
      ['the raw public key', raw],
      ['the JWKS x value', new TextEncoder().encode(jwk.x)],
      ['the JWK JSON', new TextEncoder().encode(JSON.stringify(jwk))],
      [
        'the SPKI PEM',
        new TextEncoder().encode(String(spki.export({ type: 'spki', format: 'pem' }))),
      ],
      ['the SPKI DER', new Uint8Array(spki.export({ type: 'spki', format: 'der' }))],
    ];
    for (const [label, secret] of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const token = await forge(alice, { header: { alg }, key: secret });
        await expectRejected(`Bearer ${token}`, 'algorithm does not match the key').catch(
          (error: unknown) => {
            throw new Error(`${alg} with ${label} was not refused as expected`, { cause: error });
          },
        );
      }
    }
  });

  it('refuses a token signed by another Ed25519 key that claims our kid', async () => {
    const attacker = await attackerEd25519();
    const token = await forge(alice, { key: attacker.privateKey, claims: { role: 'admin' } });
    await expectRejected(`Bearer ${token}`, 'verification failed');
  });

  it('refuses an ES256 token when the server signs with EdDSA', async () => {
    expect(t.app.services.signingKeys.signingKey().alg).toBe('EdDSA');
    const attacker = await generateKeyPair('ES256');
    const token = await forge(alice, { header: { alg: 'ES256' }, key: attacker.privateKey });
    await expectRejected(`Bearer ${token}`, 'algorithm does not match the key');
  });

  it('refuses a token with a kid the server does not have', async () => {
    const attacker = await attackerEd25519();
    await expectRejected(
      `Bearer ${await forge(alice, { header: { kid: randomUUID() }, key: attacker.privateKey })}`,
      'unknown kid',
    );
    // Signed with the real key too: an unknown kid is refused before any signature check.
    await expectRejected(
      `Bearer ${await forge(alice, { header: { kid: randomUUID() } })}`,
      'unknown kid',
    );
  });

  it('refuses a token without a usable kid', async () => {
    await expectRejected(
      `Bearer ${await forge(alice, { header: { kid: undefined } })}`,
      'missing kid',
    );
    await expectRejected(`Bearer ${await forge(alice, { header: { kid: 42 } })}`, 'missing kid');
    await expectRejected(
      `Bearer ${await forge(alice, { header: { kid: 'k'.repeat(129) } })}`,
      'missing kid',
    );
  });

  it.each(['jku', 'x5u'])(
    'refuses a %s header pointing at an attacker URL, even with a valid signature',
    async (name) => {
      const token = await forge(alice, { header: { [name]: 'https://attacker.example/keys' } });
      await expectRejected(`Bearer ${token}`, `header ${name} is not accepted`);
    },
  );

  it('refuses an x5c header carrying a certificate chain, even with a valid signature', async () => {
    const token = await forge(alice, { header: { x5c: ['MIIBszCCAVmgAwIBAgIU'] } });
    await expectRejected(`Bearer ${token}`, 'header x5c is not accepted');
  });

  it("refuses a jwk header embedding the attacker's own key, validly signed by that key", async () => {
    const attacker = await attackerEd25519();
    const attackerJwk = await exportJWK(attacker.publicKey);
    // With the attacker's own kid, and with ours: neither makes the embedded key trusted.
    for (const kid of [randomUUID(), t.app.services.signingKeys.signingKey().kid]) {
      const token = await forge(alice, {
        header: { jwk: attackerJwk, kid },
        claims: { role: 'admin' },
        key: attacker.privateKey,
      });
      await expectRejected(`Bearer ${token}`, 'header jwk is not accepted');
    }
  });
});

describe('claims checked even under a valid signature', () => {
  it('refuses a token for another issuer', async () => {
    const token = await forge(alice, { claims: { iss: 'https://attacker.example' } });
    await expectRejected(`Bearer ${token}`, 'verification failed');
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { iss: undefined } })}`,
      'verification failed',
    );
  });

  it('refuses a token for another audience', async () => {
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { aud: 'another-api' } })}`,
      'verification failed',
    );
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { aud: ['another-api'] } })}`,
      'verification failed',
    );
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { aud: undefined } })}`,
      'verification failed',
    );
  });

  it('refuses an issued token once the clock passes exp plus the tolerance', async () => {
    const start = clock;
    try {
      const issued = await login(t.app, alice.email);
      const { exp } = jwtPayload(issued.accessToken) as { exp: number };
      // Within the tolerance it still works (skew allowance), one second past it does not.
      clock = (exp + TOLERANCE - 1) * 1000;
      await expectAccepted(issued.accessToken, alice);
      clock = (exp + TOLERANCE + 1) * 1000;
      await expectRejected(`Bearer ${issued.accessToken}`, 'verification failed');
    } finally {
      clock = start;
    }
  });

  it('refuses a validly signed token whose exp has passed', async () => {
    const iat = nowSeconds() - TTL - 60;
    const token = await forge(alice, { claims: { iat, exp: iat + TTL } });
    await expectRejected(`Bearer ${token}`, 'verification failed');
  });

  it('refuses a token issued in the future', async () => {
    const iat = nowSeconds() + 3600;
    const token = await forge(alice, { claims: { iat, exp: iat + TTL } });
    await expectRejected(`Bearer ${token}`, 'issued in the future');
    const near = nowSeconds() + TOLERANCE + 2;
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { iat: near, exp: near + TTL } })}`,
      'issued in the future',
    );
  });

  it.each(['exp', 'iat', 'sub', 'jti'])('refuses a token without %s', async (claim) => {
    const token = await forge(alice, { claims: { [claim]: undefined } });
    await expectRejected(`Bearer ${token}`, 'verification failed');
  });

  it('refuses a token with claims of the wrong type', async () => {
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { sid: undefined } })}`,
      'claims of the wrong type',
    );
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { role: ['admin'] } })}`,
      'claims of the wrong type',
    );
    await expectRejected(
      `Bearer ${await forge(alice, { claims: { sid: 123 } })}`,
      'claims of the wrong type',
    );
    // amr (RFC 8176) is a short list of short strings, or absent.
    for (const amr of ['mfa', ['mfa', 1], [''], ['x'.repeat(33)], Array(9).fill('pwd'), {}, null]) {
      await expectRejected(
        `Bearer ${await forge(alice, { claims: { amr } })}`,
        'claims of the wrong type',
      );
    }
  });

  it('refuses a token without typ, or with a typ other than at+jwt', async () => {
    for (const typ of [undefined, 'JWT', 'jwt', 'JOSE', 'id_token+jwt', 'rt+jwt']) {
      await expectRejected(
        `Bearer ${await forge(alice, { header: { typ } })}`,
        'verification failed',
      );
    }
  });

  it('refuses a validly signed token for a session that never existed', async () => {
    const token = await forge(alice, { claims: { sid: randomUUID() } });
    await expectRejected(`Bearer ${token}`, 'session ended');
  });
});

describe('malformed credentials', () => {
  it('refuses a refresh token presented as a bearer token', async () => {
    expect(alice.refreshToken).toMatch(/^bwr_/);
    await expectRejected(`Bearer ${alice.refreshToken}`, 'not a compact JWS');
  });

  it('refuses other authentication schemes without an error code (RFC 6750 §3.1)', async () => {
    const basic = Buffer.from(`${alice.email}:${STRONG_PASSWORD}`).toString('base64');
    await expectNotBearer(`Basic ${basic}`);
    await expectNotBearer(`Digest username="${alice.email}"`);
    // The token itself, without a scheme, or after an unknown one.
    await expectNotBearer(alice.accessToken);
    await expectNotBearer(`Token ${alice.accessToken}`);
    // Schemes that only start like Bearer, or look like it in another script.
    await expectNotBearer(`Bearerx ${alice.accessToken}`);
    await expectNotBearer(`Bearer-${alice.accessToken}`);
    await expectNotBearer(`\u0412earer ${alice.accessToken}`);
  });

  it('accepts the scheme in any case (RFC 9110 §11.1), cached or not', async () => {
    // Never seen before: the first request is fully verified under a lower-case scheme.
    const fresh = await forge(alice);
    for (const scheme of ['bearer', 'BEARER', 'bEaReR', 'Bearer']) {
      const res = await callMe(`${scheme} ${fresh}`);
      expect(res.statusCode, `${scheme}: ${res.body}`).toBe(200);
      expect(res.json<{ id: string }>().id).toBe(alice.id);
    }
    // Already in the verified cache (from the login's own requests above).
    await expectAccepted(alice.accessToken, alice);
    for (const scheme of ['bearer', 'BEARER']) {
      const res = await callMe(`${scheme} ${alice.accessToken}`);
      expect(res.statusCode, res.body).toBe(200);
    }
    expect(events.filter((e) => e.type === 'token.invalid')).toEqual([]);
  });

  it('refuses a token it has verified and remembered, when the header around it is wrong', async () => {
    // Accepted first, so the exact token string sits in the verified cache.
    await expectAccepted(alice.accessToken, alice);
    for (const value of [
      `bearer  ${alice.accessToken}`,
      `BEARER\t${alice.accessToken}`,
      ` bearer ${alice.accessToken}`,
      `Bearer  ${alice.accessToken}`,
      ` Bearer ${alice.accessToken}`,
      `Bearer ${alice.accessToken} `,
      `Bearer ${alice.accessToken}\t`,
      `Bearer\t${alice.accessToken}`,
    ]) {
      await expectRejected(value, 'not a bearer token');
    }
    await expectAccepted(alice.accessToken, alice);
  });

  it('refuses Bearer with an empty or blank value', async () => {
    for (const value of ['Bearer', 'Bearer ', 'Bearer  ', 'Bearer\t', 'bearer', 'BEARER ']) {
      await expectRejected(value, 'not a bearer token');
    }
  });

  it('refuses two tokens in one header', async () => {
    await expectRejected(
      `Bearer ${alice.accessToken} Bearer ${bob.accessToken}`,
      'not a bearer token',
    );
    await expectRejected(`Bearer ${alice.accessToken},${bob.accessToken}`, 'not a bearer token');
  });

  it('refuses 10 KB of garbage without trying to parse it', async () => {
    const garbage = 'A'.repeat(10 * 1024);
    await expectRejected(`Bearer ${garbage}`, 'not a compact JWS');
    const jwsShaped = `${'a'.repeat(5 * 1024)}.${'b'.repeat(5 * 1024)}.${'c'.repeat(1024)}`;
    await expectRejected(`Bearer ${jwsShaped}`, 'not a compact JWS');
    // A valid token padded with a huge payload: over the length cap, refused before parsing.
    const [header, , signature] = parts(alice.accessToken);
    const padded = encodeJson({ ...realPayload(alice), pad: 'x'.repeat(10 * 1024) });
    await expectRejected(`Bearer ${header}.${padded}.${signature}`, 'not a compact JWS');
    await expectNotBearer('x'.repeat(10 * 1024));
  });

  it('refuses JWS-shaped input whose parts are not JSON', async () => {
    await expectRejected('Bearer aaaa.bbbb.cccc', 'unreadable header');
    await expectRejected(`Bearer ${encodeJson('a string')}.bbbb.cccc`, 'unreadable header');
  });

  it('refuses non-ASCII credentials', async () => {
    const values = [
      'Bearer é.é.é',
      `Bearer ${alice.accessToken}é`,
      `Bearer ${alice.accessToken.slice(0, 10)}ÿ${alice.accessToken.slice(10)}`,
      'Bearer \u00a0',
      `Bearer ${alice.accessToken}\u00ad`,
    ];
    for (const value of values) await expectRejected(value, 'not a bearer token');
  });

  it('never takes a token from the query string or a cookie', async () => {
    const query = await t.app.inject({
      method: 'GET',
      url: `${ME}?access_token=${alice.accessToken}`,
    });
    expect(query.statusCode).not.toBe(200);
    expect(query.statusCode).toBeLessThan(500);
    const cookie = await t.app.inject({
      method: 'GET',
      url: ME,
      headers: { cookie: `access_token=${alice.accessToken}` },
    });
    expect(cookie.statusCode).toBe(401);
    expect(cookie.json()).toMatchObject({ code: 'authentication_required' });
  });
});

describe('what a rejection leaves behind', () => {
  it('never writes a presented token to the logs', async () => {
    const forged = await forge(alice, { claims: { iss: 'https://attacker.example' } });
    await callMe(`Bearer ${forged}`);
    await callMe(`Bearer ${alice.accessToken}`);
    for (const line of t.logs.raw) {
      expect(line).not.toContain(forged);
      expect(line).not.toContain(parts(alice.accessToken)[2]);
    }
  });
});
