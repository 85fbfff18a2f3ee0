import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { createDevCertificate } from '../../src/crypto/dev-certificate.js';
import { secretMarker } from '../helpers/leaks.js';

/*
 * Hostile input for the JWT verifier of `bulwark tools` (test/tools/tools-fuzz.test.ts): tokens
 * that are not JWS or carry hostile headers and claims, key sets and PEM texts that are not
 * usable or hold what must never be echoed. Fixed lists: a failure names what to replay.
 */

/** The marker every secret the fuzz sends carries: it must never come back or reach the log. */
export const SECRET = 'SecretFuzz';
export const secret = secretMarker(SECRET);

// Keys: the token the fuzz is built around is EdDSA; RSA and EC serve the PEM and JWKS cases.
// The Ed25519 key is fixed (from a seed), as its public half comes back in some answers (a `jwk`
// header): the leak patterns then always meet the same text.
const edPrivate = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]),
  format: 'der',
  type: 'pkcs8',
});
export const ed = { privateKey: edPrivate, publicKey: createPublicKey(edPrivate) };
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const cert = createDevCertificate({ days: 1 });
export const jwk = (key: KeyObject, extra: Record<string, unknown>): Record<string, unknown> => ({
  ...key.export({ format: 'jwk' }),
  ...extra,
});
export const PUBLIC_JWKS = JSON.stringify({
  keys: [
    jwk(ed.publicKey, { kid: 'k1', alg: 'EdDSA' }),
    jwk(ec.publicKey, { kid: 'k2', alg: 'ES256' }),
  ],
});
const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const NOW = Math.floor(Date.now() / 1000);
export const CLAIMS = {
  iss: 'https://issuer.example',
  aud: 'api',
  sub: 'u1',
  jti: 'j1',
  iat: NOW - 60,
  exp: NOW + 840,
};

/** A compact JWS with `header` and `payload` as given (objects as JSON, strings as they are). */
export function signed(header: unknown, payload: unknown, key: KeyObject = ed.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const type = key.asymmetricKeyType;
  const signature =
    type === 'ec'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(type === 'rsa' ? 'sha256' : null, Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}
export const hmac = (header: unknown, payload: unknown, key: string): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
export const GOOD = signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, CLAIMS);
const ED_HEADER = { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' };

/** Tokens that are not JWS at all, or JWS with hostile headers and claims. */
export function hostileTokens(): [string, string][] {
  const [h, p, s] = GOOD.split('.') as [string, string, string];
  const withClaims = (label: string, claims: Record<string, unknown>): [string, string] => [
    label,
    signed(ED_HEADER, { ...CLAIMS, ...claims }),
  ];
  const withHeader = (label: string, header: Record<string, unknown>): [string, string] => [
    label,
    signed({ ...ED_HEADER, ...header }, CLAIMS),
  ];
  const rawPayload = (label: string, text: string): [string, string] => [
    label,
    signed(ED_HEADER, text),
  ];
  return [
    ['one part', 'abc'],
    ['two parts', `${h}.${p}`],
    ['four parts', `${GOOD}.x`],
    ['five empty parts (JWE-looking)', '....'],
    ['a JWE-looking token', `${h}.${p}.${s}.${s}.${s}`],
    ['six parts', `${GOOD}.x.y.z`],
    ['empty parts', '..'],
    ['an empty header', `.${p}.${s}`],
    ['an empty payload', `${h}..${s}`],
    ['an empty signature', `${h}.${p}.`],
    ['non-base64url parts', '!!!.@@@.###'],
    ['base64 with + and /', `${h}+/.${p}.${s}`],
    ['base64 padding', `${h}==.${p}.${s}`],
    ['a non-base64url signature', `${h}.${p}.a+b/c=`],
    ['base64url of non-JSON', `${b64('hello')}.${b64('world')}.${s}`],
    [
      'base64url of invalid UTF-8',
      `${Buffer.from([0xff, 0xfe, 0x80]).toString('base64url')}.${p}.${s}`,
    ],
    ['a JSON array header', `${b64([1, 2])}.${p}.${s}`],
    ['a JSON string header', `${b64('"x"')}.${p}.${s}`],
    ['a JSON number header', `${b64('42')}.${p}.${s}`],
    ['a JSON null header', `${b64('null')}.${p}.${s}`],
    rawPayload('a JSON array payload', '[1]'),
    rawPayload('a JSON string payload', '"x"'),
    rawPayload('a JSON number payload', '1e400'),
    rawPayload('a nested JWT as payload', GOOD),
    ['a huge header', signed({ ...ED_HEADER, pad: 'x'.repeat(11_000) }, CLAIMS)],
    ['a header past the limit', signed({ ...ED_HEADER, pad: 'x'.repeat(13_000) }, CLAIMS)],
    ['a header with a __proto__ member', signed(`{"alg":"EdDSA","__proto__":{"x":1}}`, CLAIMS)],
    ['a payload with a __proto__ member', signed(ED_HEADER, '{"__proto__":{"sub":"admin"}}')],
    withHeader('alg none', { alg: 'none' }),
    ['alg none unsigned', `${b64({ alg: 'none' })}.${p}.`],
    ['alg NoNe unsigned', `${b64({ alg: 'NoNe' })}.${p}.`],
    withHeader('alg unknown', { alg: 'XY999' }),
    withHeader('alg a number', { alg: 256 }),
    withHeader('alg an object', { alg: { toString: 'x' } }),
    withHeader('alg missing', { alg: undefined }),
    [
      'HS256 signed with the PEM public key (algorithm confusion)',
      hmac({ alg: 'HS256', typ: 'at+jwt' }, CLAIMS, cert.cert),
    ],
    withHeader('crit b64', { crit: ['b64'], b64: false }),
    withHeader('crit unknown', { crit: ['x-unknown'], 'x-unknown': 1 }),
    withHeader('crit not an array', { crit: 'b64' }),
    withHeader('crit of objects', { crit: [{}, null, 1] }),
    withHeader('crit empty', { crit: [] }),
    withHeader('b64 false without crit', { b64: false }),
    withHeader('jku', { jku: 'http://127.0.0.1:1/jwks' }),
    withHeader('x5u', { x5u: 'file:///etc/passwd' }),
    withHeader('jwk embedded', { jwk: jwk(ed.publicKey, {}) }),
    withHeader('x5c garbage', { x5c: ['not base64!'] }),
    withHeader('kid an object', { kid: { $ne: null } }),
    withHeader('kid huge', { kid: 'k'.repeat(4000) }),
    withHeader('kid with control characters', { kid: 'k1\u0000\u001b[31m' }),
    withHeader('typ an object', { typ: {} }),
    withHeader('cty JWT', { cty: 'JWT' }),
    withClaims('exp a string', { exp: String(NOW + 840) }),
    withClaims('exp 1e308', { exp: 1e308 }),
    withClaims('exp -1', { exp: -1 }),
    withClaims('exp "NaN"', { exp: 'NaN' }),
    withClaims('exp null', { exp: null }),
    withClaims('exp an array', { exp: [NOW] }),
    withClaims('exp fractional', { exp: NOW + 0.5 }),
    withClaims('iat 1e308', { iat: 1e308 }),
    withClaims('iat -1e308', { iat: -1e308 }),
    withClaims('iat a string', { iat: 'yesterday' }),
    withClaims('nbf 1e308', { nbf: 1e308 }),
    withClaims('nbf -1', { nbf: -1 }),
    withClaims('nbf "NaN"', { nbf: 'NaN' }),
    rawPayload('exp 1e400 (Infinity once parsed)', `{"exp":1e400,"iat":-1e400}`),
    rawPayload('exp -0', `{"exp":-0,"iat":0}`),
    withClaims('iss an object', { iss: { a: 1 } }),
    withClaims('aud nested arrays', { aud: [[1], { a: 1 }, null] }),
    withClaims('aud huge', { aud: Array.from({ length: 500 }, (_, i) => `aud-${i}`) }),
    withClaims('sub with a lone surrogate', { sub: 'a\ud800b' }),
    ['a Bearer prefix', `Bearer ${GOOD}`],
    ['a lowercase bearer prefix and spaces', `  bearer   ${GOOD}  `],
    ['Bearer alone', 'Bearer '],
    ['only whitespace', ' \t\n '],
    ['a NUL inside', `${h}.${p}\u0000.${s}`],
    ['a lone surrogate inside', `${h}.\ud800${p}.${s}`],
    // The third-last character carries six whole bits: always another signature (an "AA" ending
    // written over the last two was the same token whenever it already ended so).
    [
      'a changed signature',
      `${h}.${p}.${s.slice(0, -3)}${s.at(-3) === 'A' ? 'B' : 'A'}${s.slice(-2)}`,
    ],
    ['a changed payload', `${h}.${b64({ ...CLAIMS, sub: 'admin' })}.${s}`],
    [
      'signed by another EdDSA key',
      signed(ED_HEADER, CLAIMS, generateKeyPairSync('ed25519').privateKey),
    ],
    ['ES256 with kid k2', signed({ alg: 'ES256', kid: 'k2' }, CLAIMS, ec.privateKey)],
    ['ES256 claiming kid k1', signed({ alg: 'ES256', kid: 'k1' }, CLAIMS, ec.privateKey)],
    ['RS256 under the certificate key', signedRs256()],
  ];
}

function signedRs256(): string {
  const input = `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64(CLAIMS)}`;
  const key = cert.key;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** JWKS texts that are not usable key sets, or hold what must never be echoed. */
export function hostileJwks(): [string, string][] {
  const edPublic = jwk(ed.publicKey, { kid: 'k1' });
  const okp = (x: Buffer): Record<string, unknown> => ({
    kty: 'OKP',
    crv: 'Ed25519',
    x: x.toString('base64url'),
  });
  const set = (...keys: unknown[]): string => JSON.stringify({ keys });
  const huge = Buffer.alloc(12_500, 0xff).toString('base64url');
  const ecPublic = ec.publicKey.export({ format: 'jwk' });
  return [
    ['not JSON', '{keys: ['],
    ['whitespace', '   '],
    ['null', 'null'],
    ['a number', '1e400'],
    ['an array', '[]'],
    ['an empty object', '{}'],
    ['keys a number', '{"keys":1}'],
    ['keys a string', '{"keys":"x"}'],
    ['keys null', '{"keys":null}'],
    ['keys an object', '{"keys":{"0":{"kty":"OKP"}}}'],
    ['keys empty', '{"keys":[]}'],
    ['keys of scalars', '{"keys":[1,"a",null,true]}'],
    ['keys of empty objects', '{"keys":[{},{}]}'],
    ['kty unknown', set({ kty: 'XYZ', kid: 'k1' })],
    ['kty a number', set({ kty: 1, kid: 'k1' })],
    ['one JWK with kty unknown', JSON.stringify({ kty: 'XYZ' })],
    ['one JWK with kty a number', '{"kty":1}'],
    ['EC with an unknown crv', set({ ...ecPublic, crv: 'P-999', kid: 'k1' })],
    ['one EC JWK with an unknown crv', JSON.stringify({ ...ecPublic, crv: 'P-999' })],
    [
      'EC with a point not on the curve',
      set({ kty: 'EC', crv: 'P-256', kid: 'k2', x: b64('A'.repeat(32)), y: b64('B'.repeat(32)) }),
    ],
    [
      'one EC JWK with a point not on the curve',
      JSON.stringify({ kty: 'EC', crv: 'P-256', x: b64('A'.repeat(32)), y: b64('B'.repeat(32)) }),
    ],
    ['OKP 31 bytes', set({ ...okp(Buffer.alloc(31, 1)), kid: 'k1' })],
    ['OKP 33 bytes', set({ ...okp(Buffer.alloc(33, 1)), kid: 'k1' })],
    ['one OKP JWK of 0 bytes', JSON.stringify(okp(Buffer.alloc(0)))],
    ['OKP with crv X25519', set({ ...edPublic, crv: 'X25519' })],
    ['OKP with x an object', set({ kty: 'OKP', crv: 'Ed25519', kid: 'k1', x: {} })],
    ['RSA with a 1-bit modulus', set({ kty: 'RSA', kid: 'k1', n: 'AQ', e: 'AQAB' })],
    ['one RSA JWK with a 1-bit modulus', JSON.stringify({ kty: 'RSA', n: 'AQ', e: 'AQAB' })],
    [
      'RSA with a 100 000-bit modulus',
      set({ kty: 'RSA', kid: 'k1', alg: 'RS256', n: huge, e: 'AQAB' }),
    ],
    ['one RSA JWK with a 100 000-bit modulus', JSON.stringify({ kty: 'RSA', n: huge, e: 'AQAB' })],
    ['RSA with n and e of the wrong type', set({ kty: 'RSA', kid: 'k1', n: {}, e: [] })],
    ['a private OKP key (d)', set({ ...edPublic, d: secret('dOkp') })],
    ['one private OKP JWK (d)', JSON.stringify({ ...edPublic, d: secret('dOne') })],
    [
      'a private key behind a public one',
      set(edPublic, { ...edPublic, kid: 'k9', d: secret('dTwo') }),
    ],
    ['an oct key (k)', set({ kty: 'oct', kid: 'k1', k: secret('kOct') })],
    ['one oct JWK (k)', JSON.stringify({ kty: 'oct', k: secret('kOne') })],
    [
      'RSA private members without d',
      set({ kty: 'RSA', kid: 'k1', n: 'AQ', e: 'AQAB', p: secret('p'), q: secret('q') }),
    ],
    ['a __proto__ member', `{"keys":[${JSON.stringify(edPublic)}],"__proto__":{"kty":"OKP"}}`],
    ['both keys and kty', JSON.stringify({ kty: 'OKP', keys: [edPublic] })],
    ['two keys with the same kid', set(edPublic, { ...edPublic, x: b64('x'.repeat(32)) })],
    ['use enc and key_ops wrong', set({ ...edPublic, use: 'enc', key_ops: 'verify' })],
    ['alg none on the key', set({ ...edPublic, alg: 'none' })],
    ['100 000 levels of arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ['20 000 empty keys', set(...Array.from({ length: 20_000 }, () => ({ kty: 'EC' })))],
    ['past its maxLength', ' '.repeat(262_145)],
  ];
}

/** PEM texts that are not public keys, or are private keys that must never be echoed. */
export function hostilePems(): [string, string][] {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const body = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').trim();
  const spki = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const pkcs8 = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const sec1 = ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString();
  const encrypted = rsa.privateKey
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' })
    .toString();
  return [
    ['garbage', 'not a pem at all'],
    ['a PEM with a garbage body', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'],
    ['a PEM with no body', '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----'],
    ['a PKCS#8 private key', pkcs8],
    ['a PKCS#1 private key', pkcs1],
    ['a SEC1 private key', sec1],
    ['an encrypted private key', encrypted],
    [
      'a private key under a PUBLIC KEY header',
      `-----BEGIN PUBLIC KEY-----\n${body(pkcs8)}\n-----END PUBLIC KEY-----`,
    ],
    [
      'a private key under a CERTIFICATE header',
      `-----BEGIN CERTIFICATE-----\n${body(pkcs1)}\n-----END CERTIFICATE-----`,
    ],
    ['a private key under a lowercase header', pkcs8.replace(/PRIVATE KEY/g, 'private key')],
    ['a private key with a spaced header', pkcs8.replace(/PRIVATE KEY/g, 'PRIVATE  KEY')],
    ['a private key after a public one', `${spki}\n${pkcs1}`],
    ['a certificate', cert.cert],
    [
      'a certificate with a garbage body',
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    ],
    [
      'an X25519 public key',
      generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ],
    [
      'an RSA PUBLIC KEY (PKCS#1)',
      rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    ],
    ['a public key with CRLF line ends', spki.replace(/\n/g, '\r\n')],
    ['a public key with a NUL', spki.replace('\n', '\n\u0000')],
    ['past its maxLength', `${spki}${' '.repeat(16_385)}`],
  ];
}
