import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InspectInputError, inspectJwt, type InspectResult } from '../../src/tools/jwt-inspect.js';

const NOW = new Date('2026-11-30T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwks = JSON.stringify({
  keys: [{ ...ed.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA' }],
});
const CLAIMS = {
  iss: 'https://issuer.example',
  aud: 'api',
  sub: 'u1',
  jti: 'j1',
  iat: T - 60,
  exp: T + 840,
};

function signed(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: KeyObject = ed.privateKey,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const options =
    key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  return `${input}.${sign(key.asymmetricKeyType === 'ec' ? 'sha256' : null, Buffer.from(input), options).toString('base64url')}`;
}

function hs256(payload: Record<string, unknown>, secret: string): string {
  const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: 'h' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const status = (result: InspectResult, check: string): string | undefined =>
  result.findings.find((f) => f.check === check)?.status;
const good = signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, CLAIMS);

describe('the JWT verifier', () => {
  it('verifies a good token with a JWKS, the issuer and the audience: valid, every check passes', async () => {
    const result = await inspectJwt(good, {
      key: { jwks },
      issuer: CLAIMS.iss,
      audience: 'api',
      now: NOW,
    });
    expect(result.verdict).toBe('valid');
    expect(result.signatureValid).toBe(true);
    expect(result.findings.filter((f) => f.status !== 'pass')).toEqual([]);
    expect(result.payload).toMatchObject({ sub: 'u1' });
  });

  it('takes "Bearer <token>" as pasted from a request, and one JWK instead of a set', async () => {
    const jwk = JSON.stringify(ed.publicKey.export({ format: 'jwk' }));
    const result = await inspectJwt(`Bearer ${good}`, { key: { jwks: jwk }, now: NOW });
    expect(result.signatureValid).toBe(true);
  });

  it('verifies ES256 with a PEM public key', async () => {
    const token = signed({ alg: 'ES256', typ: 'at+jwt', kid: 'e' }, CLAIMS, ec.privateKey);
    const pem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect((await inspectJwt(token, { key: { pem }, now: NOW })).verdict).toBe('valid');
  });

  it('refuses a changed payload or signature, and a token of another key', async () => {
    const [h, , s] = good.split('.');
    const raised = `${h}.${b64({ ...CLAIMS, sub: 'admin' })}.${s}`;
    const other = signed(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
      CLAIMS,
      generateKeyPairSync('ed25519').privateKey,
    );
    for (const token of [raised, other]) {
      const result = await inspectJwt(token, { key: { jwks }, now: NOW });
      expect(result.verdict).toBe('invalid');
      expect(result.findings.find((f) => f.check === 'signature')).toMatchObject({
        status: 'fail',
        message: expect.stringContaining('does not match'),
      });
    }
  });

  it('fails alg none, even with a key, and says why', async () => {
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(CLAIMS)}.`;
    const result = await inspectJwt(none, { key: { jwks }, now: NOW });
    expect(result.verdict).toBe('invalid');
    expect(status(result, 'alg')).toBe('fail');
    expect(status(result, 'signature')).toBe('fail');
  });

  it('refuses an HS256 token keyed with the public key when given that key as PEM (algorithm confusion)', async () => {
    const pem = ed.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const result = await inspectJwt(hs256(CLAIMS, pem), { key: { pem }, now: NOW });
    expect(result.verdict).toBe('invalid');
    expect(result.findings.find((f) => f.check === 'signature')?.message).toContain(
      'alg does not fit the key',
    );
  });

  it('verifies HS256 with its secret, warning that verifiers can forge', async () => {
    const result = await inspectJwt(hs256(CLAIMS, 'a shared secret of some length'), {
      key: { secret: 'a shared secret of some length' },
      now: NOW,
    });
    expect(result.signatureValid).toBe(true);
    expect(status(result, 'alg')).toBe('warn');
    const wrong = await inspectJwt(hs256(CLAIMS, 'a shared secret of some length'), {
      key: { secret: 'another' },
      now: NOW,
    });
    expect(wrong.verdict).toBe('invalid');
  });

  it('lists every claim problem at once: expired, issuer, audience, lifetime, missing claims', async () => {
    const token = signed(
      { alg: 'EdDSA', kid: 'k1' },
      { iss: 'https://evil.example', aud: ['other'], iat: T - 3 * 86_400, exp: T - 60 },
    );
    const result = await inspectJwt(token, {
      key: { jwks },
      issuer: CLAIMS.iss,
      audience: 'api',
      now: NOW,
    });
    expect(result.verdict).toBe('invalid');
    expect(result.signatureValid).toBe(true);
    expect(Object.fromEntries(result.findings.map((f) => [f.check, f.status]))).toMatchObject({
      exp: 'fail',
      lifetime: 'fail',
      iss: 'fail',
      aud: 'fail',
      typ: 'warn',
      sub: 'warn',
      jti: 'warn',
    });
    expect(result.findings.find((f) => f.check === 'exp')?.message).toMatch(
      /^Expired at .* \(1 min ago\)\.$/,
    );
  });

  it('fails a token that expires before it was issued', async () => {
    const token = signed(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
      { ...CLAIMS, iat: T + 600, exp: T + 300 },
    );
    const result = await inspectJwt(token, { key: { jwks }, now: NOW });
    expect(result.findings.find((f) => f.check === 'lifetime')).toMatchObject({
      status: 'fail',
      message: 'Expires before (or when) it was issued: exp is not after iat.',
    });
    expect(result.verdict).toBe('invalid');
  });

  it('honours the clock tolerance for exp and nbf', async () => {
    const token = signed(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
      { ...CLAIMS, exp: T - 10, nbf: T + 10 },
    );
    expect(status(await inspectJwt(token, { key: { jwks }, now: NOW }), 'exp')).toBe('fail');
    const tolerant = await inspectJwt(token, {
      key: { jwks },
      now: NOW,
      clockToleranceSeconds: 30,
    });
    expect(status(tolerant, 'exp')).toBe('pass');
    expect(status(tolerant, 'nbf')).toBeUndefined();
  });

  it('warns about headers that carry their own key, and about no key given', async () => {
    const token = signed(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1', jku: 'https://evil.example/jwks' },
      CLAIMS,
    );
    const result = await inspectJwt(token, { now: NOW });
    expect(result.verdict).toBe('unverified');
    expect(result.signatureValid).toBeNull();
    expect(result.findings.find((f) => f.check === 'header')?.message).toContain('jku');
    expect(status(result, 'signature')).toBe('warn');
  });

  it.each([
    ['not-a-token', 'token', 'three parts'],
    ['a.b.c.d.e', 'token', 'encrypted JWT'],
    ['!!.e30.sig', 'token', 'header is not base64url'],
    [`${b64([1])}.${b64({})}.sig`, 'token', 'header is not a JSON object'],
  ])('refuses %s as input', async (token, field, message) => {
    const error = await inspectJwt(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InspectInputError);
    expect(error).toMatchObject({ field, message: expect.stringContaining(message) });
  });

  it('refuses key material it cannot use, or must not be given', async () => {
    const priv = JSON.stringify({ keys: [ed.privateKey.export({ format: 'jwk' })] });
    await expect(inspectJwt(good, { key: { jwks: priv } })).rejects.toThrow(
      'private or secret key material',
    );
    await expect(inspectJwt(good, { key: { jwks: '{' } })).rejects.toThrow('The JWKS is not JSON.');
    await expect(inspectJwt(good, { key: { pem: 'nope' } })).rejects.toThrow('not a public key');
  });

  it('fails nbf or iat that is not a number, as jose and RFC 7519 (NumericDate) do', async () => {
    for (const [claim, value] of [
      ['iat', 'yesterday'],
      ['nbf', String(T + 86_400)],
      ['iat', [T]],
    ] as const) {
      const token = signed(
        { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
        { ...CLAIMS, [claim]: value },
      );
      const result = await inspectJwt(token, { key: { jwks }, now: NOW });
      expect(status(result, claim), claim).toBe('fail');
      expect(result.verdict).toBe('invalid');
    }
  });

  it('reports dates beyond any calendar instead of failing on them', async () => {
    for (const claims of [
      { ...CLAIMS, exp: 1e20 },
      { ...CLAIMS, nbf: 1e30 },
      { ...CLAIMS, iat: 1e20 },
    ]) {
      const token = signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, claims);
      const result = await inspectJwt(token, { key: { jwks }, now: NOW });
      expect(result.verdict).toBe('invalid');
      expect(result.findings.map((f) => f.message).join(' ')).toContain('beyond any date');
    }
  });

  it('refuses a JWKS whose keys are not objects, and a private key given as PEM', async () => {
    await expect(inspectJwt(good, { key: { jwks: '{"keys": [1]}' } })).rejects.toMatchObject({
      field: 'key.jwks',
    });
    const pem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await expect(inspectJwt(good, { key: { pem } })).rejects.toThrow(
      'The PEM is a private key: verify with the public key only.',
    );
  });
});
