import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCertificate } from '../../src/crypto/dev-certificate.js';
import { buildToolsApp, TOOLS_CONTENT_SECURITY_POLICY } from '../../src/tools/server.js';
import { JwtVerifyBody, OidcStartBody } from '../../src/tools/schema.js';
import { LogCapture } from '../helpers/app.js';
import { expectNoLeak, secretMarker } from '../helpers/leaks.js';

/*
 * Every route of `bulwark tools`, attacked with deterministic, bounded hostile input: bodies
 * derived from the routes' body schemas, hostile tokens and key material, JWKS URLs and OIDC
 * issuers that answer badly (on loopback), hostile query strings, paths and headers. Whatever
 * arrives, the answer is a success or a clean problem document with the tools' security
 * headers: never a 5xx, never a library message, stack or private key, never a secret this file
 * sent (each carries SECRET), and the server still verifies a good token afterwards. The
 * variants are fixed lists (no randomness in what is sent), so a failure names what to replay.
 */

type Schema = Record<string, unknown>;

interface Variant {
  label: string;
  method?: InjectOptions['method'];
  url: string;
  /** A value sent as JSON, or raw text / bytes as they are. */
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string | string[]>;
  /** Headers to leave out of the base set. */
  omit?: string[];
}

interface Failure {
  where: string;
  status: number;
  problem: string;
  body: string;
}

const HOST = '127.0.0.1:4000';
const SECRET = 'SecretFuzz';
const secret = secretMarker(SECRET);

// The routes the server must have, as "METHOD path": the fuzz must fail when one is added and
// not covered here, and must never pass by testing nothing.
const EXPECTED_ROUTES = [
  'GET /',
  'GET /jwt',
  'GET /oidc',
  'GET /oidc/callback',
  'GET /assets/:name',
  'POST /api/jwt/verify',
  'POST /api/oidc/start',
  'GET /api/oidc/redirect-uri',
];

/** "METHOD path" of every route, from Fastify's printed route tree (HEAD is implied by GET). */
function routesOf(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: { depth: number; path: string }[] = [];
  for (const line of app.printRoutes({ includeMeta: false }).split('\n')) {
    const match = /^([\s│├└─]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = match[1]!.length;
    while (stack.length > 0 && stack.at(-1)!.depth >= depth) stack.pop();
    const path = `${stack.at(-1)?.path ?? ''}${match[2]!}`;
    stack.push({ depth, path });
    for (const method of match[3]?.split(', ') ?? []) {
      if (method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

// Keys: the token the fuzz is built around is EdDSA; RSA and EC serve the PEM and JWKS cases.
// The Ed25519 key is fixed (from a seed), as its public half comes back in some answers (a `jwk`
// header): the leak patterns then always meet the same text.
const edPrivate = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]),
  format: 'der',
  type: 'pkcs8',
});
const ed = { privateKey: edPrivate, publicKey: createPublicKey(edPrivate) };
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const cert = createDevCertificate({ days: 1 });
const jwk = (key: KeyObject, extra: Record<string, unknown>): Record<string, unknown> => ({
  ...key.export({ format: 'jwk' }),
  ...extra,
});
const PUBLIC_JWKS = JSON.stringify({
  keys: [
    jwk(ed.publicKey, { kid: 'k1', alg: 'EdDSA' }),
    jwk(ec.publicKey, { kid: 'k2', alg: 'ES256' }),
  ],
});
const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const NOW = Math.floor(Date.now() / 1000);
const CLAIMS = {
  iss: 'https://issuer.example',
  aud: 'api',
  sub: 'u1',
  jti: 'j1',
  iat: NOW - 60,
  exp: NOW + 840,
};

/** A compact JWS with `header` and `payload` as given (objects as JSON, strings as they are). */
function signed(header: unknown, payload: unknown, key: KeyObject = ed.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const type = key.asymmetricKeyType;
  const signature =
    type === 'ec'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(type === 'rsa' ? 'sha256' : null, Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}
const hmac = (header: unknown, payload: unknown, key: string): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
const GOOD = signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, CLAIMS);
const ED_HEADER = { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' };

/** Tokens that are not JWS at all, or JWS with hostile headers and claims. */
function hostileTokens(): [string, string][] {
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
    ['a changed signature', `${h}.${p}.${s.slice(0, -2)}AA`],
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
function hostileJwks(): [string, string][] {
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
function hostilePems(): [string, string][] {
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

let tools: FastifyInstance;
let logs: LogCapture;
let hostile: Server;
let base: string;
let closedPort: number;
let jwksAsked = 0;
let requests = 0;
const statuses = new Map<number, number>();
const slowest = { ms: 0, where: '' };
const failures: Failure[] = [];

/** A port nothing listens on: one the system gave out and took back. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function discovery(issuer: string, kind: string): unknown {
  const good = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    userinfo_endpoint: `${issuer}/userinfo`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    code_challenge_methods_supported: ['S256'],
    id_token_signing_alg_values_supported: ['EdDSA'],
    authorization_response_iss_parameter_supported: true,
  };
  switch (kind) {
    case 'wrong-issuer':
      return { ...good, issuer: 'https://evil.example' };
    case 'array':
      return [good];
    case 'empty':
      return {};
    case 'bad-endpoints':
      return { ...good, token_endpoint: 'not a url', jwks_uri: 'file:///etc/passwd' };
    case 'javascript':
      return { ...good, authorization_endpoint: 'javascript:alert(1)//' };
    case 'bad-types':
      return {
        ...good,
        response_types_supported: 'code',
        code_challenge_methods_supported: 'plain',
        id_token_signing_alg_values_supported: 'HS256',
      };
    case 'null-types':
      return {
        ...good,
        response_types_supported: [null, 1],
        code_challenge_methods_supported: [null],
        id_token_signing_alg_values_supported: [null, {}],
        authorization_endpoint: 42,
      };
    default:
      return good;
  }
}

/** A loopback server answering the JWKS URLs and OIDC providers of the fuzz, well and badly. */
function hostileHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', base);
  const json = (status: number, value: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  };
  const oidc = /^\/oidc\/([\w-]+)(\/.*)$/.exec(url.pathname);
  if (oidc !== null) {
    const [, kind, rest] = oidc as unknown as [string, string, string];
    const issuer = `${base}/oidc/${kind}`;
    if (rest === '/.well-known/openid-configuration') {
      if (kind === 'not-json') return void res.writeHead(200).end('not json');
      if (kind === 'html')
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>hi</h1>');
      if (kind === 'status-500') return void res.writeHead(500).end('boom at /srv/x.js:1');
      if (kind === 'huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({ ...(discovery(issuer, 'good') as object), pad: 'x'.repeat(2_000_000) }),
        );
      }
      return json(200, discovery(issuer, kind));
    }
    if (rest === '/jwks') {
      // A provider that publishes a secret key next to its public ones: ID tokens still verify.
      if (kind === 'signed-secret-jwks') {
        const { keys } = JSON.parse(PUBLIC_JWKS) as { keys: unknown[] };
        return json(200, { keys: [...keys, { kty: 'oct', kid: 'h1', k: secret('kProvider') }] });
      }
      // Every second ask (the ID token lint's, after openid-client's) gets no JSON.
      if (kind === 'signed-garbage-jwks' && jwksAsked++ % 2 === 1) return void res.end('{keys:');
      return json(200, JSON.parse(PUBLIC_JWKS));
    }
    if (rest === '/userinfo') {
      if (kind === 'signed') return json(200, { sub: 'alice', email: 'a@example.com' });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('[1,');
    }
    if (rest === '/token' && kind.startsWith('signed')) {
      // The code the test sends back is the flow's nonce, so the ID token can carry it.
      let form = '';
      req.on('data', (chunk: Buffer) => (form += chunk.toString('utf8')));
      req.on('end', () => {
        const nonce = new URLSearchParams(form).get('code');
        const now = Math.floor(Date.now() / 1000);
        const claims = {
          iss: issuer,
          aud: 'fuzz-client',
          sub: 'alice',
          nonce,
          iat: now,
          exp: now + 300,
        };
        json(200, {
          access_token: `at-${kind}`,
          token_type: 'Bearer',
          expires_in: 300,
          id_token: signed({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' }, claims),
        });
      });
      return;
    }
    if (rest === '/token') {
      if (kind === 'token-garbage') return void res.writeHead(200).end('<html>');
      if (kind === 'token-500') return void res.writeHead(500).end('boom');
      return json(400, { error: 'invalid_grant', error_description: 'the code is unknown' });
    }
    return json(404, { error: 'not_found' });
  }
  switch (url.pathname) {
    case '/jwks/ok':
      return json(200, JSON.parse(PUBLIC_JWKS));
    case '/jwks/500':
      return json(500, { error: 'internal', where: '/srv/app.js' });
    case '/jwks/html':
      return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
    case '/jwks/not-json':
      return void res.writeHead(200).end('{keys:');
    case '/jwks/empty':
      return void res.writeHead(200).end();
    case '/jwks/keys-object':
      return json(200, { keys: {} });
    case '/jwks/private':
      return json(200, { keys: [jwk(ed.privateKey, { kid: 'k1', d: secret('dUrl') })] });
    case '/jwks/huge':
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(' '.repeat(300 * 1024));
    case '/jwks/endless': {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(' '.repeat(200 * 1024));
      res.write(' '.repeat(200 * 1024));
      return void res.end();
    }
    case '/jwks/stall':
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.write('{"keys":[');
    case '/jwks/redirect':
      return void res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    default:
      return json(404, { error: 'not_found' });
  }
}

/** One line per failure: what was sent, what came back, what is wrong with it. */
const shown = (f: Failure): string =>
  `${f.where} → ${f.status}: ${f.problem} | ${f.body.slice(0, 160)}`;

/** Checks one answer against the contract; records what is wrong instead of stopping. */
function check(where: string, res: LightMyRequestResponse, options: { head?: boolean } = {}): void {
  requests++;
  statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  const fail = (problem: string): void => {
    failures.push({ where, status: res.statusCode, problem, body: res.body.slice(0, 300) });
  };
  if (res.statusCode >= 500) fail('a 5xx');
  for (const [name, value] of [
    ['content-security-policy', TOOLS_CONTENT_SECURITY_POLICY],
    ['x-content-type-options', 'nosniff'],
    ['x-frame-options', 'DENY'],
    ['cache-control', 'no-store'],
    ['referrer-policy', 'no-referrer'],
  ] as const) {
    if (res.headers[name] !== value) fail(`header ${name}: ${String(res.headers[name])}`);
  }
  const type = String(res.headers['content-type'] ?? '');
  // The callback's own refusal (unknown state) is a result page by design: the browser lands on it.
  const callbackPage =
    where.includes('/oidc/callback') &&
    type === 'text/html; charset=utf-8' &&
    res.statusCode === 400;
  if (res.statusCode >= 400 && !callbackPage) {
    if (!type.startsWith('application/problem+json')) fail(`content-type ${type}`);
    if (!options.head) {
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(res.body) as Record<string, unknown>;
      } catch {
        fail('a body that is not JSON');
      }
      if (body !== undefined && typeof body.code !== 'string') fail('no code');
    }
  }
  // An authorization URL carries a fresh state, nonce and PKCE challenge: random text that a
  // pattern such as /ajv/i would now and then find by chance.
  const visible = res.body.replace(/("authorizationUrl":"[^"?]*)\?[^"]*"/g, '$1?…"');
  try {
    expectNoLeak(visible);
  } catch (error) {
    fail(`a leak: ${(error as Error).message.split('\n')[0]}`);
  }
  if (res.body.includes(SECRET)) fail('a secret echoed');
}

async function send(variant: Variant): Promise<LightMyRequestResponse> {
  const payload =
    variant.raw ?? (variant.body === undefined ? undefined : JSON.stringify(variant.body));
  const headers: Record<string, string | string[]> = {
    host: HOST,
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    ...variant.headers,
  };
  for (const name of variant.omit ?? []) delete headers[name];
  const method = variant.method ?? (payload === undefined ? 'GET' : 'POST');
  const before = performance.now();
  const res = await tools.inject({
    method,
    url: variant.url,
    headers,
    ...(payload === undefined ? {} : { payload }),
  });
  const where = `${method} ${variant.url.slice(0, 120)} [${variant.label}]`;
  const took = performance.now() - before;
  if (took > slowest.ms) Object.assign(slowest, { ms: took, where });
  check(where, res, { head: method === 'HEAD' });
  return res;
}

/** A sign-in at the loopback provider `kind` up to its callback; the code is the flow's nonce. */
async function signIn(kind: string): Promise<LightMyRequestResponse> {
  const issuer = `${base}/oidc/${kind}`;
  const start = await send({
    label: `start ${kind}`,
    url: '/api/oidc/start',
    body: { issuer, clientId: 'fuzz-client', clientSecret: secret() },
  });
  const params = new URL(start.json<{ authorizationUrl: string }>().authorizationUrl).searchParams;
  const query = new URLSearchParams({
    code: params.get('nonce')!,
    state: params.get('state')!,
    iss: issuer,
  });
  return send({ label: `${kind} callback with tokens`, url: `/oidc/callback?${query.toString()}` });
}

/** Wrong-typed, oversized and malformed values for one property of a TypeBox body schema. */
function propertyMutations(schema: Schema): [string, unknown][] {
  const maxLength = schema.maxLength as number | undefined;
  const out: [string, unknown][] = [
    ['null', null],
    ['an object', { $ne: null }],
    ['an array', ['a']],
    ['a boolean', true],
  ];
  if (schema.type === 'string') {
    out.push(
      ['a number', 12345],
      ['empty', ''],
      ['300 000 characters', 'x'.repeat(300_000)],
      ['control characters', `a\u0001\u001b[31m\r\nb`],
      ['a lone surrogate', 'a\ud800b'],
      ['a NUL', 'a\u0000b'],
    );
    if (maxLength !== undefined)
      out.push([`maxLength+1 (${maxLength + 1})`, 'x'.repeat(maxLength + 1)]);
  } else if (schema.type === 'integer') {
    out.push(
      ['a string', '10'],
      ['"NaN"', 'NaN'],
      ['-1', -1],
      ['fractional', 1.5],
      ['1e308', 1e308],
      ['above its maximum', (schema.maximum as number) + 1],
    );
  } else {
    out.push(['a number', 1], ['an unknown string', 'private_key_jwt']);
  }
  return out;
}

/** Body variants of a route from its schema: each property broken alone, then the body's shape. */
function bodyVariants(url: string, schema: Schema, valid: Record<string, unknown>): Variant[] {
  const out: Variant[] = [];
  const properties = schema.properties as Record<string, Schema>;
  for (const [name, sub] of Object.entries(properties)) {
    for (const [label, value] of propertyMutations(sub)) {
      out.push({ label: `${name}: ${label}`, url, body: { ...valid, [name]: value } });
    }
  }
  for (const name of schema.required as string[]) {
    const rest = { ...valid };
    delete rest[name];
    out.push({ label: `without required ${name}`, url, body: rest });
  }
  const inner = JSON.stringify(valid).slice(1, -1);
  out.push(
    { label: 'an extra property', url, body: { ...valid, admin: true } },
    { label: '__proto__', url, raw: `{${inner},"__proto__":{"x":1}}` },
    { label: 'constructor.prototype', url, raw: `{${inner},"constructor":{"prototype":{"x":1}}}` },
    { label: 'an empty object', url, raw: '{}' },
    { label: 'a top-level array', url, raw: JSON.stringify([valid]) },
    { label: 'a top-level string', url, raw: '"x"' },
    { label: 'a top-level null', url, raw: 'null' },
    { label: 'deep nesting', url, raw: '{"a":'.repeat(2000) + '1' + '}'.repeat(2000) },
    { label: 'invalid JSON around a secret', url, raw: `{${inner},"secret":'${secret()}'}` },
    { label: 'an empty body', url, raw: '' },
    {
      label: 'past the body limit',
      url,
      raw: JSON.stringify({ ...valid, pad: 'x'.repeat(600_000) }),
    },
  );
  return out;
}

/** Header and media-type attacks on one route. */
function headerVariants(url: string, method: InjectOptions['method'], body?: unknown): Variant[] {
  const text = body === undefined ? '{"a":1}' : JSON.stringify(body);
  const out: Variant[] = [];
  for (const host of [
    'evil.example',
    'evil.example:4000',
    '127.0.0.1.evil.example',
    'localhost.evil.example:4000',
    'localhost.',
    '127.0.0.1:4000.evil.example',
    '[::1].evil.example',
    'evil.example#127.0.0.1',
    '0.0.0.0:4000',
    '[::ffff:127.0.0.1]:4000',
    '127.1:4000',
    '',
    'x'.repeat(5000),
  ]) {
    out.push({
      label: `Host ${host.slice(0, 30) || '(empty)'}`,
      method,
      url,
      headers: { host },
      ...(body === undefined ? {} : { body }),
    });
  }
  out.push(
    { label: 'two Host headers', method, url, headers: { host: [HOST, 'evil.example'] } },
    {
      label: 'a foreign Origin',
      method,
      url,
      headers: { origin: 'https://evil.example' },
      ...(body === undefined ? {} : { body }),
    },
    {
      label: 'Origin null',
      method,
      url,
      headers: { origin: 'null' },
      ...(body === undefined ? {} : { body }),
    },
    { label: 'Accept application/xml', method, url, headers: { accept: 'application/xml' } },
    {
      label: 'OPTIONS preflight from a foreign origin',
      method: 'OPTIONS',
      url,
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    },
    { label: 'DELETE', method: 'DELETE', url },
    { label: 'PUT with JSON', method: 'PUT', url, raw: text },
  );
  if (method === 'POST') {
    out.push(
      { label: 'text/plain', method, url, raw: text, headers: { 'content-type': 'text/plain' } },
      {
        label: 'a form',
        method,
        url,
        raw: 'token=a.b.c',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      {
        label: 'multipart',
        method,
        url,
        raw: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\na.b.c\r\n--x--\r\n',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
      },
      {
        label: 'JSON in UTF-16',
        method,
        url,
        raw: Buffer.from(text, 'utf16le'),
        headers: { 'content-type': 'application/json; charset=utf-16' },
      },
      { label: 'JSON in UTF-16 labelled UTF-8', method, url, raw: Buffer.from(text, 'utf16le') },
      { label: 'no content type', method, url, raw: text, omit: ['content-type'] },
      {
        label: 'gzip on plain bytes',
        method,
        url,
        raw: text,
        headers: { 'content-encoding': 'gzip' },
      },
      {
        label: 'two content types',
        method,
        url,
        raw: text,
        headers: { 'content-type': ['application/json', 'text/plain'] },
      },
      {
        label: 'application/json with a parameter',
        method,
        url,
        raw: text,
        headers: { 'content-type': 'application/json; charset=latin1' },
      },
      { label: 'invalid UTF-8', method, url, raw: Buffer.from([0x7b, 0xff, 0x7d]) },
      { label: 'a BOM', method, url, raw: `\ufeff${text}` },
    );
  }
  return out;
}

const QUERIES = [
  '%',
  '%zz',
  'a=%ED%A0%80',
  'a=%00',
  '__proto__[x]=1',
  'constructor[prototype][x]=1',
  'a[]=1&a[]=2',
  `a=${'x'.repeat(10_000)}`,
  Array.from({ length: 30 }, (_, i) => `k${i}=v`).join('&'),
  'a=<script>alert(1)</script>',
];

beforeAll(async () => {
  hostile = createServer(hostileHandler);
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  closedPort = await freePort();
  logs = new LogCapture();
  tools = await buildToolsApp({
    baseUrl: () => `http://${HOST}`,
    fetchTimeoutMs: 300,
    logger: { level: 'debug', stream: logs },
  });
});
afterAll(async () => {
  await tools.close();
  hostile.closeAllConnections();
  await new Promise((resolve) => hostile.close(resolve));
});

describe('tools fuzz', () => {
  it('knows every route of the tools server', () => {
    expect(routesOf(tools).sort()).toEqual([...EXPECTED_ROUTES].sort());
  });

  it('answers hostile JWT verifications with a result or a clean problem', async () => {
    const before = failures.length;
    const url = '/api/jwt/verify';
    const valid = {
      token: GOOD,
      jwks: PUBLIC_JWKS,
      issuer: CLAIMS.iss,
      audience: 'api',
      clockToleranceSeconds: 5,
    };
    const variants: Variant[] = [
      { label: 'the valid request', url, body: valid },
      ...bodyVariants(url, JwtVerifyBody as unknown as Schema, valid),
      ...bodyVariants(url, JwtVerifyBody as unknown as Schema, { token: GOOD }),
    ];
    for (const [label, token] of hostileTokens()) {
      variants.push(
        { label: `token ${label}, no key`, url, body: { token } },
        { label: `token ${label}, the JWKS`, url, body: { token, jwks: PUBLIC_JWKS } },
        { label: `token ${label}, a secret`, url, body: { token, secret: secret() } },
        { label: `token ${label}, the certificate`, url, body: { token, pem: cert.cert } },
      );
    }
    for (const [label, jwks] of hostileJwks()) {
      variants.push({ label: `jwks ${label}`, url, body: { token: GOOD, jwks } });
    }
    for (const [label, pem] of hostilePems()) {
      variants.push({ label: `pem ${label}`, url, body: { token: GOOD, pem } });
    }
    for (const [label, value] of [
      ['empty', ''],
      ['one character', 'x'],
      ['1024 characters', secret('x'.repeat(1000))],
      ['1025 characters', secret('x'.repeat(1010))],
      ['with a NUL', secret('\u0000')],
      ['a lone surrogate', secret('\ud800')],
    ] as const) {
      variants.push({ label: `secret ${label}`, url, body: { token: GOOD, secret: value } });
    }
    const hs = secret('-right');
    variants.push({
      label: 'HS256 with its right secret',
      url,
      body: { token: hmac({ alg: 'HS256', typ: 'at+jwt' }, CLAIMS, hs), secret: hs },
    });
    for (const jwksUrl of [
      'file:///etc/passwd',
      'data:application/json,{"keys":[]}',
      'javascript:alert(1)',
      'ftp://127.0.0.1/jwks',
      'gopher://127.0.0.1:70/x',
      `http://user:${secret()}@127.0.0.1:${closedPort}/jwks`,
      `http://:${secret()}@127.0.0.1:${closedPort}/jwks`,
      `http://127.0.0.1:${closedPort}/jwks`,
      `https://127.0.0.1:${closedPort}/jwks`,
      `http://localhost:${closedPort}/jwks?sig=${secret()}`,
      'http://127.0.0.1:99999/jwks',
      'http://[::1',
      'not a url',
      '   ',
      `  ${base}/jwks/ok  `,
      `${base}/jwks/ok#${secret()}`,
      `${base}/jwks/ok`,
      `${base}/jwks/500`,
      `${base}/jwks/html`,
      `${base}/jwks/not-json`,
      `${base}/jwks/empty`,
      `${base}/jwks/keys-object`,
      `${base}/jwks/private`,
      `${base}/jwks/huge`,
      `${base}/jwks/endless`,
      `${base}/jwks/redirect`,
      `${base}/jwks/nothing`,
      // Once only: it costs the whole (shortened) fetch timeout.
      `${base}/jwks/stall`,
    ]) {
      variants.push({
        label: `jwksUrl ${jwksUrl.slice(0, 60)}`,
        url,
        body: { token: GOOD, jwksUrl },
      });
    }
    for (const field of ['issuer', 'audience'] as const) {
      for (const [label, value] of [
        ['2048 characters', 'i'.repeat(2048)],
        ['control characters', 'a\u0000\u001b[2J\r\nb'],
        ['HTML', '<script>alert(1)</script>'],
        ['replacement patterns', "$' $& $`"],
      ] as const) {
        variants.push({ label: `${field} ${label}`, url, body: { ...valid, [field]: value } });
      }
    }
    variants.push(...headerVariants(url, 'POST', valid));
    for (const variant of variants) {
      const res = await send(variant);
      const token = (variant.body as { token?: unknown } | undefined)?.token;
      // The token is not echoed: only its decoded header and payload come back.
      if (typeof token === 'string' && token.length > 40 && res.body.includes(token)) {
        failures.push({
          where: variant.label,
          status: res.statusCode,
          problem: 'the token echoed',
          body: '',
        });
      }
    }
    expect(failures.slice(before).map(shown)).toEqual([]);
  }, 60_000);

  it('answers hostile OIDC starts and callbacks with a result or a clean problem', async () => {
    const before = failures.length;
    const url = '/api/oidc/start';
    const issuer = (kind: string): string => `${base}/oidc/${kind}`;
    const valid = {
      issuer: issuer('good'),
      clientId: 'fuzz-client',
      clientSecret: secret(),
      clientAuth: 'client_secret_basic',
      scope: 'openid email',
    };
    const variants: Variant[] = [
      { label: 'the valid start', url, body: valid },
      ...bodyVariants(url, OidcStartBody as unknown as Schema, valid),
    ];
    for (const value of [
      'not a url',
      'ftp://127.0.0.1/x',
      'javascript:alert(1)',
      'data:text/plain,x',
      'file:///etc/passwd',
      'http://example.com',
      `http://user:${secret()}@127.0.0.1:${closedPort}`,
      `https://user:${secret()}@127.0.0.1:${closedPort}`,
      `http://127.0.0.1:${closedPort}`,
      `https://127.0.0.1:${closedPort}`,
      `http://127.0.0.1:${closedPort}/?key=${secret()}#${secret()}`,
      issuer('not-json'),
      issuer('html'),
      issuer('status-500'),
      issuer('wrong-issuer'),
      issuer('array'),
      issuer('empty'),
      issuer('bad-endpoints'),
      issuer('javascript'),
      issuer('bad-types'),
      issuer('null-types'),
      issuer('huge'),
      issuer('nothing/at/all'),
      `${issuer('good')}/`,
      `${issuer('good')}?x=1`,
    ]) {
      variants.push({
        label: `issuer ${value.slice(0, 70)}`,
        url,
        body: { ...valid, issuer: value },
      });
    }
    for (const [label, extra] of [
      ['a huge scope', { scope: 's '.repeat(256) }],
      ['a scope with control characters', { scope: 'openid\r\n\u0000x' }],
      ['a client id with control characters', { clientId: 'c\r\nSet-Cookie: x=1\u0000' }],
      ['a client id with a lone surrogate', { clientId: 'c\ud800' }],
      ['client_secret_post', { clientAuth: 'client_secret_post' }],
      ['an unknown auth method', { clientAuth: 'private_key_jwt' }],
      ['an empty secret', { clientSecret: '' }],
      ['a secret with a colon and a NUL', { clientSecret: secret(':\u0000') }],
    ] as const) {
      variants.push({ label, url, body: { ...valid, ...extra } });
    }
    variants.push(...headerVariants(url, 'POST', valid));
    for (const variant of variants) await send(variant);

    // The callback: without a flow, and for flows started against the loopback providers.
    const callback = '/oidc/callback';
    for (const query of [
      '',
      'state=unknown',
      'state=',
      'code=x',
      'state=a&state=b',
      'error=access_denied',
      'error=access_denied&error_description=%3Cscript%3E',
      `state=${'s'.repeat(4097)}`,
      `state=${'s'.repeat(4096)}`,
      Array.from({ length: 21 }, (_, i) => `k${i}=v`).join('&'),
      ...QUERIES,
    ]) {
      await send({ label: `query ${query.slice(0, 40)}`, url: `${callback}?${query}` });
    }
    const flows: [string, (state: string, iss: string) => string][] = [
      ['error and iss', (s, i) => `error=access_denied&error_description=no&state=${s}&iss=${i}`],
      ['code and iss', (s, i) => `code=abc&state=${s}&iss=${i}`],
      ['code without iss', (s) => `code=abc&state=${s}`],
      ['code with a foreign iss', (s) => `code=abc&state=${s}&iss=https%3A%2F%2Fevil.example`],
      ['iss twice', (s, i) => `code=abc&state=${s}&iss=${i}&iss=${i}`],
      ['state twice', (s, i) => `code=abc&state=${s}&state=${s}&iss=${i}`],
      ['no code and no error', (s, i) => `state=${s}&iss=${i}`],
      ['code and error', (s, i) => `code=abc&error=x&state=${s}&iss=${i}`],
      ['a huge code', (s, i) => `code=${'c'.repeat(4096)}&state=${s}&iss=${i}`],
      ['a response JWT', (s, i) => `response=${GOOD}&state=${s}&iss=${i}`],
    ];
    for (const kind of ['good', 'token-garbage', 'token-500']) {
      for (const [label, query] of flows) {
        const start = await send({
          label: `start for ${label}`,
          url,
          body: { ...valid, issuer: issuer(kind) },
        });
        const authorizationUrl = start.json<{ authorizationUrl?: string }>().authorizationUrl;
        expect(authorizationUrl, start.body).toBeDefined();
        const state = new URL(authorizationUrl!).searchParams.get('state')!;
        await send({
          label: `${kind} callback ${label}`,
          url: `${callback}?${query(state, encodeURIComponent(issuer(kind)))}`,
        });
        // One use: the replay finds nothing.
        await send({
          label: `${kind} replayed ${label}`,
          url: `${callback}?${query(state, issuer(kind))}`,
        });
      }
    }
    // Flows that get tokens: an ID token signed for the flow's nonce, from providers whose
    // JWKS (fetched a second time, for the ID token lint) or UserInfo misbehave.
    for (const kind of ['signed', 'signed-secret-jwks', 'signed-garbage-jwks']) {
      const res = await signIn(kind);
      expect(res.body, kind).toContain(`at-${kind}`);
    }
    expect(failures.slice(before).map(shown)).toEqual([]);
  }, 60_000);

  it('lints the ID token without a provider JWKS the verifier refuses, and says so', async () => {
    for (const kind of ['signed-secret-jwks', 'signed-garbage-jwks']) {
      const res = await signIn(kind);
      expect(res.statusCode, res.body).toBe(200);
      const data = /<script id="data" type="application\/json">([\s\S]*?)<\/script>/.exec(res.body);
      const result = JSON.parse(data?.[1] ?? 'null') as {
        ok: boolean;
        checks: { check: string; status: string }[];
        idTokenInspection?: { signatureValid: boolean | null };
      };
      expect(result.ok).toBe(true);
      expect(result.checks).toContainEqual(
        expect.objectContaining({ check: 'jwks', status: 'fail' }),
      );
      expect(result.idTokenInspection?.signatureValid).toBeNull();
      expect(res.body).not.toContain(SECRET);
    }
  });

  it('answers hostile pages, assets, queries and methods cleanly', async () => {
    const before = failures.length;
    for (const page of ['/', '/jwt', '/oidc', '/api/oidc/redirect-uri']) {
      for (const query of QUERIES)
        await send({ label: `query ${query.slice(0, 30)}`, url: `${page}?${query}` });
      await send({ label: 'HEAD', method: 'HEAD', url: page });
      await send({ label: 'a trailing slash', url: `${page}/`.replace('//', '/') });
      for (const variant of headerVariants(page, 'GET')) await send(variant);
    }
    for (const name of [
      '..%2Fserver.js',
      '%2e%2e%2fserver.js',
      '%2E%2E%2F%2E%2E%2Fpackage.json',
      '..',
      '%2e%2e',
      '.',
      'jwt.js%00',
      'jwt.js%00.css',
      '%00',
      '%2Fetc%2Fpasswd',
      '%2F%2Fetc%2Fpasswd',
      '..%5Cserver.js',
      '..%5C..%5Cpackage.json',
      'C:%5Cwindows%5Cwin.ini',
      'JWT.JS',
      'jwt.html',
      'index.html',
      'oidc-result.html',
      'server.js',
      `${'a'.repeat(41)}.js`,
      'missing.js',
      'common.js',
      'tools.css',
      '%zz',
      '%C0%AF',
      'jwt.js%2F',
      'jwt.js/',
      'jwt.js;.css',
      encodeURIComponent('😀.js'),
      '',
    ]) {
      await send({ label: `asset ${name}`, url: `/assets/${name}` });
      await send({ label: `HEAD asset ${name}`, method: 'HEAD', url: `/assets/${name}` });
    }
    for (const path of [
      '/assets/../package.json',
      '/assets//etc/passwd',
      '/assets/a/b.js',
      '/%2e%2e/package.json',
      '/nothing',
      '/api',
      '/api/jwt',
      '/oidc/callback/x',
      '//jwt',
      '/jwt%00',
    ]) {
      await send({ label: `path ${path}`, url: path });
    }
    expect(failures.slice(before).map(shown)).toEqual([]);
  }, 60_000);

  it('leaves no secret and no stack of a 4xx in the log', () => {
    expect(
      logs.raw.filter((line) => line.includes(SECRET)).map((line) => line.slice(0, 400)),
    ).toEqual([]);
    const stacks = logs.lines.filter(
      (line) => (line.err as { stack?: unknown } | undefined)?.stack !== undefined,
    );
    expect(stacks.map((line) => JSON.stringify(line).slice(0, 400))).toEqual([]);
    for (const line of logs.raw) expectNoLeak(line.replace(/\\n/g, '\n'));
  });

  it('still verifies a good token, and reports its figures', async () => {
    const res = await tools.inject({
      method: 'POST',
      url: '/api/jwt/verify',
      headers: { host: HOST },
      payload: { token: GOOD, jwksUrl: `${base}/jwks/ok`, issuer: CLAIMS.iss, audience: 'api' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ verdict: 'valid', signatureValid: true });
    console.info(
      `tools fuzz: ${requests} requests (${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => `${status}: ${n}`)
        .join(', ')}); slowest ${slowest.ms.toFixed(0)} ms: ${slowest.where}`,
    );
    expect(requests).toBeGreaterThan(500);
    expect(requests).toBeLessThan(1500);
  });
});
