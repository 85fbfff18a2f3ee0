import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildToolsApp, TOOLS_CONTENT_SECURITY_POLICY } from '../../src/tools/server.js';
import { JwtVerifyBody, OidcStartBody } from '../../src/tools/schema.js';
import { LogCapture } from '../helpers/app.js';
import { expectNoLeak } from '../helpers/leaks.js';
import {
  cert,
  CLAIMS,
  GOOD,
  hmac,
  hostileJwks,
  hostilePems,
  hostileTokens,
  PUBLIC_JWKS,
  SECRET,
  secret,
} from './hostile-jwt-inputs.js';
import { freePort, startHostileProvider } from './hostile-provider.js';
import {
  bodyVariants,
  headerVariants,
  HOST,
  QUERIES,
  type Schema,
  type Variant,
} from './hostile-requests.js';

/*
 * Every route of `bulwark tools`, attacked with deterministic, bounded hostile input: bodies
 * derived from the routes' body schemas, hostile tokens and key material, JWKS URLs and OIDC
 * issuers that answer badly (on loopback), hostile query strings, paths and headers. Whatever
 * arrives, the answer is a success or a clean problem document with the tools' security
 * headers: never a 5xx, never a library message, stack or private key, never a secret this file
 * sent (each carries SECRET), and the server still verifies a good token afterwards. The
 * variants are fixed lists (no randomness in what is sent), so a failure names what to replay.
 */

interface Failure {
  where: string;
  status: number;
  problem: string;
  body: string;
}

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

let tools: FastifyInstance;
let logs: LogCapture;
let hostile: { base: string; close: () => Promise<void> };
let base: string;
let closedPort: number;
let requests = 0;
const statuses = new Map<number, number>();
const slowest = { ms: 0, where: '' };
const failures: Failure[] = [];

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

beforeAll(async () => {
  hostile = await startHostileProvider();
  base = hostile.base;
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
  await hostile.close();
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
