import { createHmac, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { renderText } from '../../src/scan/report.js';
import { runScan } from '../../src/scan/scanner.js';
import type { ScanFinding, ScanOptions, ScanReport } from '../../src/scan/types.js';
import { devCertFiles } from '../helpers/tls.js';

/**
 * `bulwark audit` judging APIs that are not Bulwark: small servers written the way other
 * frameworks and hand-written APIs answer, some hardened, some not. Each case is its own server,
 * so that a verdict can only come from what that server does.
 */

type Route = (req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL) => boolean;

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * A server that reads each body in full, lets `route` answer, and answers 404 as JSON otherwise.
 * No OpenAPI document: the scan is told the routes, as for most APIs in the wild.
 */
async function api(route: Route): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (route(req, res, Buffer.concat(chunks), url)) return;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, status: number, value: unknown): true => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  return true;
};

async function scan(url: string, options: Partial<ScanOptions> = {}): Promise<ScanReport> {
  return runScan({ target: new URL(url), rateLimitRequests: 0, ...options });
}

const found = (report: ScanReport, check: string): ScanFinding | undefined =>
  report.findings.find((f) => f.check === check);

describe('bulwark audit and a login route whose body it cannot build', () => {
  // Express with express.json(): a text/plain body is not parsed (req.body stays {}), and the
  // route asks for `username`, which the scan's default body (email, password) does not have.
  // Every body is refused with 400 "username required", the well-formed one too.
  const usernameLogin: Route = (req, res, body, url) => {
    if (url.pathname !== '/login' || req.method !== 'POST') return false;
    let data: Record<string, unknown> = {};
    if (req.headers['content-type']?.startsWith('application/json')) {
      try {
        data = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        return json(res, 400, { error: 'invalid JSON' });
      }
    }
    if (typeof data.username !== 'string' || typeof data.password !== 'string') {
      return json(res, 400, { error: 'username and password are required' });
    }
    return json(res, 401, { error: 'invalid credentials' });
  };

  it('does not fail text/plain as "processed like JSON" when the well-formed body got the same 400', async () => {
    const report = await scan(await api(usernameLogin), { loginPath: '/login' });
    expect(found(report, 'input.content-type')).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('was itself refused (400)'),
    });
  });

  it('does not pass prototype poisoning on a 400 that the well-formed body got too', async () => {
    const report = await scan(await api(usernameLogin), { loginPath: '/login' });
    expect(found(report, 'input.prototype-poisoning')).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('was itself refused (400)'),
    });
  });

  it('does not fail password guessing as "not throttled" when no password was ever checked', async () => {
    const report = await scan(await api(usernameLogin), {
      loginPath: '/login',
      rateLimitRequests: 20,
    });
    expect(found(report, 'ratelimit.login')).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('no password was checked'),
      evidence: 'POST /login × 20 → 400',
    });
  });

  it('still passes a 415 to text/plain, and fails text/plain answered like the well-formed body', async () => {
    const strict = await api((req, res, body, url) => {
      if (url.pathname === '/login' && req.headers['content-type'] !== 'application/json')
        return json(res, 415, { error: 'JSON only' });
      return usernameLogin(req, res, body, url);
    });
    expect(found(await scan(strict, { loginPath: '/login' }), 'input.content-type')?.status).toBe(
      'pass',
    );
    // Parses every body as JSON whatever its type, and knows the email field.
    const lax = await api((req, res, body, url) => {
      if (url.pathname !== '/login' || req.method !== 'POST') return false;
      try {
        JSON.parse(body.toString('utf8'));
      } catch {
        return json(res, 400, { error: 'invalid JSON' });
      }
      return json(res, 401, { error: 'invalid credentials' });
    });
    expect(found(await scan(lax, { loginPath: '/login' }), 'input.content-type')?.status).toBe(
      'fail',
    );
  });
});

describe("bulwark audit given the login body's shape (--login-body)", () => {
  /**
   * A login route that reads `field(data)` as the user name: 400 when the body has no such
   * string or no password, 401 for wrong credentials, 415 for anything but JSON. Records each
   * JSON body it was sent.
   */
  function strictLogin(
    field: (data: Record<string, unknown>) => unknown,
    sent: unknown[],
    password: (data: Record<string, unknown>) => unknown = (data) => data.password,
  ): Route {
    return (req, res, body, url) => {
      if (url.pathname !== '/login' || req.method !== 'POST') return false;
      if (req.headers['content-type'] !== 'application/json')
        return json(res, 415, { error: 'JSON only' });
      let data: Record<string, unknown>;
      try {
        data = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        return json(res, 400, { error: 'invalid JSON' });
      }
      sent.push(data);
      if (typeof field(data) !== 'string' || typeof password(data) !== 'string')
        return json(res, 400, { error: 'username and password are required' });
      if (Object.keys(data).some((key) => !['username', 'password', 'user'].includes(key)))
        return json(res, 400, { error: 'unknown field' });
      return json(res, 401, { error: 'invalid credentials' });
    };
  }

  it('sends {username, password} when told to, so the body checks are judged, not skipped', async () => {
    const sent: unknown[] = [];
    const url = await api(strictLogin((data) => data.username, sent));
    const report = await scan(url, {
      loginPath: '/login',
      loginBody: { username: '{user}', password: '{password}' },
    });
    expect(sent[0]).toEqual({
      username: 'audit-probe@example.com',
      password: 'not the password of anyone 7f3a',
    });
    expect(found(report, 'input.content-type')?.status).toBe('pass');
    expect(found(report, 'input.unknown-fields')?.status).toBe('pass');
    expect(found(report, 'input.prototype-poisoning')?.status).toBe('pass');
  });

  it('sends a nested body (Rails Devise: {user: {email, password}}), other values as given', async () => {
    const sent: unknown[] = [];
    const nested = (data: Record<string, unknown>): Record<string, unknown> =>
      typeof data.user === 'object' && data.user !== null
        ? (data.user as Record<string, unknown>)
        : {};
    const url = await api(
      strictLogin(
        (data) => nested(data).email,
        sent,
        (data) => nested(data).password,
      ),
    );
    const report = await scan(url, {
      loginPath: '/login',
      loginBody: { user: { email: '{user}', password: '{password}', remember: false } },
      rateLimitRequests: 3,
    });
    expect(sent[0]).toEqual({
      user: {
        email: 'audit-probe@example.com',
        password: 'not the password of anyone 7f3a',
        remember: false,
      },
    });
    expect(found(report, 'input.content-type')?.status).toBe('pass');
    // Three wrong passwords answered 401, none limited: judged (fail), not "no password checked".
    expect(found(report, 'ratelimit.login')?.status).toBe('fail');
  });

  it('takes the shape given over the body the OpenAPI document describes', async () => {
    const sent: unknown[] = [];
    const login = strictLogin((data) => data.username, sent);
    const url = await api((req, res, body, u) => {
      if (u.pathname === '/openapi.json')
        return json(res, 200, {
          openapi: '3.0.3',
          info: { title: 'api', version: '1' },
          paths: {
            '/login': {
              post: {
                requestBody: {
                  content: {
                    'application/json': {
                      // Wrong: the route wants username.
                      schema: {
                        type: 'object',
                        required: ['email', 'password'],
                        properties: {
                          email: { type: 'string', format: 'email' },
                          password: { type: 'string' },
                        },
                      },
                    },
                  },
                },
                responses: { 200: { description: 'ok' } },
              },
            },
          },
        });
      return login(req, res, body, u);
    });
    const described = await scan(url);
    expect(found(described, 'input.prototype-poisoning')).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('give its shape with --login-body'),
    });
    sent.length = 0;
    const given = await scan(url, { loginBody: { username: '{user}', password: '{password}' } });
    expect(sent[0]).toHaveProperty('username', 'audit-probe@example.com');
    expect(found(given, 'input.prototype-poisoning')?.status).toBe('pass');
  });

  it('refuses a shape without both placeholders, or with one it does not know', async () => {
    for (const loginBody of [
      { username: 'admin', password: '{password}' },
      { username: '{user}', password: '{pass}' },
      { username: '{user}', password: '{password}', confirm: '{password}' },
    ]) {
      await expect(scan('http://127.0.0.1:1', { loginBody })).rejects.toThrow(/"\{|\{pass\}/);
    }
  });
});

describe('bulwark audit and where the JWKS is', () => {
  const PUBLIC_KEY = { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), kid: 'k1' };
  const LEAKING = { keys: [{ ...PUBLIC_KEY, d: 'B'.repeat(43) }] };

  /** A server that counts the requests it answers. */
  async function counted(route: Route): Promise<{ url: string; hits: string[] }> {
    const hits: string[] = [];
    const url = await api((req, res, body, u) => {
      hits.push(u.pathname);
      return route(req, res, body, u);
    });
    return { url, hits };
  }

  it('follows the jwks_uri of the OpenID configuration on the same origin when the usual place has none', async () => {
    const { url, hits } = await counted((_req, res, _body, u) => {
      if (u.pathname === '/.well-known/openid-configuration')
        return json(res, 200, {
          issuer: 'http://issuer.invalid',
          jwks_uri: `http://${_req.headers.host}/realms/x/protocol/openid-connect/certs`,
        });
      if (u.pathname === '/realms/x/protocol/openid-connect/certs') return json(res, 200, LEAKING);
      return false;
    });
    const report = await scan(url);
    expect(found(report, 'jwks.public-only')).toMatchObject({
      status: 'fail',
      evidence: `GET ${url}/realms/x/protocol/openid-connect/certs`,
    });
    expect(hits).toContain('/.well-known/jwks.json');
    expect(report.requests).toBe(hits.length);
  });

  it('does not follow a jwks_uri on another origin, and says to give it with --jwks-url', async () => {
    const keys = await counted((_req, res) => json(res, 200, LEAKING));
    const { url } = await counted((_req, res, _body, u) =>
      u.pathname === '/.well-known/openid-configuration'
        ? json(res, 200, { jwks_uri: `${keys.url}/certs` })
        : false,
    );
    const report = await scan(url);
    expect(keys.hits).toEqual([]);
    expect(found(report, 'jwks.public-only')).toMatchObject({
      status: 'skip',
      reason: expect.stringMatching(
        /on another origin \(http:\/\/127\.0\.0\.1:\d+\/certs\).*--jwks-url/,
      ),
    });
  });

  it('fetches the JWKS given with --jwks-url, on another origin or under the base, within its budget', async () => {
    const keys = await counted((_req, res, _body, u) =>
      u.pathname === '/certs' ? json(res, 200, LEAKING) : false,
    );
    const target = await counted((_req, res, _body, u) =>
      u.pathname === '/api/keys' ? json(res, 200, { keys: [PUBLIC_KEY] }) : false,
    );
    const elsewhere = await scan(target.url, { jwksUrl: `${keys.url}/certs` });
    expect(found(elsewhere, 'jwks.public-only')).toMatchObject({
      status: 'fail',
      evidence: `GET ${keys.url}/certs`,
    });
    expect(keys.hits).toEqual(['/certs']);
    // Counted like every other request.
    expect(elsewhere.requests).toBe(target.hits.length + 1);
    expect(target.hits).not.toContain('/.well-known/jwks.json');
    const under = await scan(`${target.url}/api`, { jwksUrl: '/keys' });
    expect(found(under, 'jwks.public-only')).toMatchObject({
      status: 'pass',
      evidence: 'GET /keys',
    });
  });

  it('says why the JWKS given could not be used: refused, not one, too large', async () => {
    const url = await api((_req, res, _body, u) => {
      if (u.pathname === '/missing') return false;
      if (u.pathname === '/html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html>');
        return true;
      }
      if (u.pathname === '/huge') return json(res, 200, { keys: [], pad: 'x'.repeat(300_000) });
      return false;
    });
    const reasons: string[] = [];
    for (const jwksUrl of ['/missing', '/html', '/huge'])
      reasons.push(found(await scan(url, { jwksUrl }), 'jwks.public-only')?.reason ?? '');
    expect(reasons).toEqual([
      'No JWKS found: the JWKS given with --jwks-url: /missing answered 404.',
      'No JWKS found: the JWKS given with --jwks-url: /html is not JSON.',
      'No JWKS found: the JWKS given with --jwks-url: /huge is larger than 256 KiB, more than any JWKS.',
    ]);
  });
});

describe('bulwark audit and an API that takes an API key in its own header (--auth-header)', () => {
  const KEY = 'ak_live_7Q2x:9f$Lm0pZr4Tv8Wy';

  /** GET /me needs `x-api-key: KEY` (401 without it, no WWW-Authenticate); `query` names a leak. */
  function apiKeyApi(query?: string): Route {
    return (req, res, _body, u) => {
      if (u.pathname !== '/me' || req.method !== 'GET') return false;
      const given = req.headers['x-api-key'] ?? (query ? u.searchParams.get(query) : null);
      if (given !== KEY) return json(res, 401, { error: 'missing or invalid API key' });
      return json(res, 200, { id: 'u1' });
    };
  }

  it('sends the key in that header, passes a 401 without WWW-Authenticate, and skips the JWT checks', async () => {
    const url = await api(apiKeyApi());
    const report = await scan(url, { token: KEY, authHeader: 'X-API-Key', protectedPath: '/me' });
    expect(found(report, 'auth.token-required')).toMatchObject({
      status: 'pass',
      reason: '/me needs X-API-Key (401 without it).',
    });
    expect(found(report, 'jwt.claims')).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('is not a JWT (an API key)'),
    });
    expect(found(report, 'jwt.forgery')?.status).toBe('skip');
    // It was accepted: the authenticated checks ran.
    expect(found(report, 'headers.cache-control')?.status).not.toBe('skip');
    expect(found(report, 'auth.token-in-url')).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining(
        '?api_key=, ?apikey=, ?key=, ?token=, ?access_token=, ?x-api-key=',
      ),
    });
  });

  it('fails an API that also takes the key from ?api_key=, and never shows the key', async () => {
    const url = await api(apiKeyApi('api_key'));
    const report = await scan(url, { token: KEY, authHeader: 'X-API-Key', protectedPath: '/me' });
    expect(found(report, 'auth.token-in-url')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('takes the API key from the URL (?api_key=)'),
      evidence: 'GET /me?api_key=… → 200',
    });
    for (const text of [JSON.stringify(report), renderText(report)]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(encodeURIComponent(KEY));
    }
  });

  it('refuses, before sending anything, a header it sets itself or one that is no header name', async () => {
    for (const authHeader of ['Host', 'authorization', 'X-Key\r\nInjected: 1', ''])
      await expect(scan('http://127.0.0.1:1', { authHeader })).rejects.toThrow(/^authHeader /);
    await expect(scan('http://127.0.0.1:1', { jwksUrl: 'keys.json' })).rejects.toThrow(
      /^jwksUrl must be/,
    );
  });

  it('refuses, before sending anything, a token too short to keep out of the report', async () => {
    // The CLI says so with the file's name; a library caller of runScan gets the same refusal
    // instead of a report in which a 5-character key was left unreplaced.
    await expect(
      scan('http://127.0.0.1:1', { token: 'k3y!x', authHeader: 'X-API-Key' }),
    ).rejects.toThrow('token must be at least 8 characters long');
  });

  it('still asks for WWW-Authenticate: Bearer from an API that takes bearer tokens', async () => {
    const url = await api((req, res, _body, u) =>
      u.pathname === '/me' ? json(res, 401, { error: 'no token' }) : false,
    );
    expect(found(await scan(url, { protectedPath: '/me' }), 'auth.token-required')?.status).toBe(
      'warn',
    );
  });

  it('sends the forged tokens in that header when the token is a JWT, and finds the route in OpenAPI', async () => {
    const b64 = (value: unknown): string =>
      Buffer.from(JSON.stringify(value)).toString('base64url');
    const jwt = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'u1', exp: 4102444800 })}.${'s'.repeat(43)}`;
    const seen: string[] = [];
    const url = await api((req, res, _body, u) => {
      if (u.pathname === '/openapi.json')
        return json(res, 200, {
          openapi: '3.1.0',
          info: { title: 'api', version: '1' },
          components: {
            securitySchemes: { key: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' } },
          },
          security: [{ key: [] }],
          paths: { '/v1/account': { get: { responses: { 200: { description: 'ok' } } } } },
        });
      if (u.pathname !== '/v1/account') return false;
      const token = req.headers['x-auth-token'];
      if (typeof token === 'string') seen.push(token);
      // Checks only that it is three dot-separated parts: any forgery gets in.
      if (typeof token !== 'string' || token.split('.').length !== 3)
        return json(res, 401, { error: 'unauthorized' });
      return json(res, 200, { id: 'u1' });
    });
    const report = await scan(url, { token: jwt, authHeader: 'X-Auth-Token' });
    expect(found(report, 'auth.token-required')?.reason).toContain(
      '/v1/account needs X-Auth-Token',
    );
    expect(found(report, 'jwt.forgery')?.status).toBe('fail');
    expect(seen.length).toBeGreaterThan(5);
    expect(JSON.stringify(report)).not.toContain('s'.repeat(43));
  });
});

describe('bulwark audit and a JSON route that crashes on text/plain', () => {
  it('does not say text/plain was processed like JSON when it made the API fail and JSON did not', async () => {
    // Express 5 with express.json(): a text/plain body leaves req.body undefined, and
    // `const { email } = req.body` throws (500); the same body as JSON gets 401.
    const url = await api((req, res, _body, u) => {
      if (u.pathname !== '/api/login' || req.method !== 'POST') return false;
      if (req.headers['content-type'] !== 'application/json')
        return json(res, 500, { message: 'Internal Server Error' });
      return json(res, 401, { message: 'Invalid credentials' });
    });
    const report = await scan(url, { loginPath: '/api/login' });
    expect(found(report, 'input.content-type')).toMatchObject({
      status: 'warn',
      reason:
        'A JSON body sent as text/plain made the API fail (500) instead of being refused with 415.',
    });
    expect(found(report, 'errors.no-5xx')?.status).toBe('fail');
  });
});

describe('bulwark audit and login throttling without 429', () => {
  /** Wrong passwords get 401 until the `after`th, then `locked` (an account lockout). */
  const lockingLogin =
    (after: number, locked: number): Route =>
    (req, res, _body, url) => {
      if (url.pathname !== '/login' || req.method !== 'POST') return false;
      attempts += 1;
      return attempts > after
        ? json(res, locked, { error: 'too many failed logins: account locked for 15 minutes' })
        : json(res, 401, { error: 'invalid credentials' });
    };
  let attempts = 0;
  afterEach(() => {
    attempts = 0;
  });

  for (const locked of [423, 403]) {
    it(`warns, not fails, on a lockout answered ${locked} after a few wrong passwords`, async () => {
      const url = await api(lockingLogin(5, locked));
      // The body checks send wrong passwords too: only the throttle probe is looked at here.
      const report = await scan(url, { loginPath: '/login', rateLimitRequests: 20 });
      expect(found(report, 'ratelimit.login')).toMatchObject({
        status: 'warn',
        reason: expect.stringContaining(`with ${locked} rather than 429`),
        evidence: `POST /login → ${locked}`,
      });
      expect(attempts).toBeLessThan(20);
    });
  }

  it('does not judge the body checks on a 423 from a lockout set off earlier', async () => {
    // The probe account was locked by an earlier scan: every body gets 423, as with a 429.
    const url = await api(lockingLogin(0, 423));
    const report = await scan(url, { loginPath: '/login' });
    for (const check of [
      'input.content-type',
      'input.body-limit',
      'input.prototype-poisoning',
      'input.unknown-fields',
      'errors.malformed-json',
    ]) {
      expect(found(report, check), check).toMatchObject({
        status: 'skip',
        reason: expect.stringContaining('answered 423 Locked'),
      });
    }
  });

  it('still fails a login route that answers every wrong password alike', async () => {
    const url = await api(lockingLogin(Infinity, 423));
    const report = await scan(url, { loginPath: '/login', rateLimitRequests: 20 });
    expect(found(report, 'ratelimit.login')?.status).toBe('fail');
  });
});

describe('bulwark audit and the internals an error shows', () => {
  // What APIs in the wild send with a 500 to a login body they choke on: each is a leak.
  const leaks: [string, unknown, string][] = [
    [
      'a Node stack in a JSON string, anonymous frames only',
      {
        error: 'Internal Server Error',
        stack:
          'Error: boom\n    at /app/dist/routes/login.js:12:11\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      },
      'a stack trace',
    ],
    [
      "Fastify's default 500 (the message of a TypeError, without its name)",
      {
        statusCode: 500,
        error: 'Internal Server Error',
        message: "Cannot read properties of undefined (reading 'password')",
      },
      'a JavaScript exception',
    ],
    [
      'a handler calling what is not a function',
      { message: 'user.checkPassword is not a function' },
      'a JavaScript exception',
    ],
    [
      'a Go panic',
      { error: 'panic: runtime error: invalid memory address or nil pointer dereference' },
      'a stack trace',
    ],
    [
      'a .NET exception',
      { title: 'System.NullReferenceException: Object reference not set to an instance' },
      'a stack trace',
    ],
  ];
  for (const [name, body, what] of leaks) {
    it(`fails errors.no-internals on ${name}`, async () => {
      const url = await api((req, res, _body, u) => {
        if (u.pathname !== '/login' || req.method !== 'POST') return false;
        return json(res, 500, body);
      });
      const report = await scan(url, { loginPath: '/login' });
      expect(found(report, 'errors.no-internals')).toMatchObject({
        status: 'fail',
        reason: expect.stringContaining(`A response shows ${what}`),
      });
    });
  }

  it('tells SQL from English: a message about deleting from a cart is no SQL text', async () => {
    const answering =
      (message: string): Route =>
      (req, res, _body, u) => {
        if (u.pathname !== '/login' || req.method !== 'POST') return false;
        return json(res, 400, { error: message });
      };
    const benign = await scan(
      await api(
        answering(
          'Cannot delete from an empty cart: select one item from the list, then update your set of options.',
        ),
      ),
      { loginPath: '/login' },
    );
    expect(found(benign, 'errors.no-internals')?.status).toBe('pass');
    // Knex and Sequelize write SQL in lower case, with quoted names.
    const knex = await scan(
      await api(
        answering(
          'select "id", "password_hash" from "users" where "email" = $1 - canceling statement due to statement timeout',
        ),
      ),
      { loginPath: '/login' },
    );
    expect(found(knex, 'errors.no-internals')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('SQL text'),
    });
  });

  it('passes generic error documents that name no internals', async () => {
    const url = await api((req, res, _body, u) => {
      if (u.pathname !== '/login' || req.method !== 'POST') return false;
      return json(res, 401, {
        title: 'Invalid credentials',
        detail: 'The email or the password is not right; the function is not available offline.',
      });
    });
    const report = await scan(url, { loginPath: '/login' });
    expect(found(report, 'errors.no-internals')?.status).toBe('pass');
  });
});

describe('bulwark audit and HSTS', () => {
  it('fails max-age=0, which turns HSTS off, instead of warning that it is under a year', async () => {
    const cert = devCertFiles();
    const server = createHttpsServer(
      { cert: cert.cert, key: readFileSync(cert.keyFile) },
      (_req, res) =>
        res
          .writeHead(404, {
            'content-type': 'application/json',
            'strict-transport-security': 'max-age=0; includeSubDomains',
          })
          .end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    try {
      const { port } = server.address() as AddressInfo;
      const report = await scan(`https://127.0.0.1:${port}`, { ca: cert.cert });
      expect(found(report, 'tls.hsts')).toMatchObject({
        status: 'fail',
        reason: expect.stringContaining('HSTS is turned off'),
      });
    } finally {
      cert.cleanup();
    }
  });
});

describe('bulwark audit and the lines it could not test', () => {
  // A JSON API with a bearer-protected route, scanned without a token or without routes.
  const protectedApi: Route = (req, res, _body, url) => {
    if (url.pathname !== '/api/me') return false;
    res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'application/json' });
    res.end('{"error":"unauthorized"}');
    return true;
  };

  it('reports line 3 as skipped, not as one that cannot be seen from outside, without a token', async () => {
    const url = await api(protectedApi);
    for (const options of [{ protectedPath: '/api/me' }, {}]) {
      const report = await scan(url, options);
      expect(found(report, 'auth.token-in-url'), JSON.stringify(options)).toMatchObject({
        status: 'skip',
        line: 3,
      });
      expect(renderText(report)).toMatch(/\nLines 2, 5, 6, 9, 15, 16 cannot be seen/);
    }
  });
});

describe('bulwark audit given a token that is not a signed JWT', () => {
  for (const [kind, token] of [
    ['an opaque token', 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6.7a8b9c0d'],
    [
      'a JWE',
      'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..abc123abc123abcd.c2VjcmV0.dGFnMHRhZzB0YWcw',
    ],
  ] as const) {
    it(`skips the token attacks for ${kind} instead of passing "0 forged tokens"`, async () => {
      const url = await api((req, res, _body, u) => {
        if (u.pathname !== '/me') return false;
        if (req.headers.authorization === `Bearer ${token}`) return json(res, 200, { id: 'u1' });
        res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
        return true;
      });
      const report = await scan(url, { token, protectedPath: '/me' });
      expect(found(report, 'jwt.forgery')).toMatchObject({
        status: 'skip',
        reason: expect.stringContaining('not a signed JWT'),
      });
    });
  }
});

describe('bulwark audit and CORS that reflects the origin', () => {
  /** Reflects every Origin (the `cors` package with `origin: true`), with or without credentials. */
  const reflecting =
    (credentials: boolean): Route =>
    (req, res) => {
      if (req.headers.origin !== undefined) {
        res.setHeader('access-control-allow-origin', req.headers.origin);
        if (credentials) res.setHeader('access-control-allow-credentials', 'true');
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-headers': 'authorization' }).end();
        return true;
      }
      return false;
    };

  it('warns, like *, on a reflected origin without credentials', async () => {
    const report = await scan(await api(reflecting(false)));
    for (const check of ['cors.foreign-origin', 'cors.null-origin', 'cors.preflight']) {
      expect(found(report, check), check).toMatchObject({
        status: 'warn',
        reason: expect.stringContaining('(it reflects any origin, like *), without credentials'),
      });
    }
  });

  it('fails a reflected origin with credentials', async () => {
    const report = await scan(await api(reflecting(true)));
    for (const check of ['cors.foreign-origin', 'cors.null-origin', 'cors.preflight']) {
      expect(found(report, check), check).toMatchObject({
        status: 'fail',
        reason: expect.stringContaining(
          'with credentials: any web site can read what its users can',
        ),
      });
    }
  });
});

describe('bulwark audit and cookies', () => {
  const setting =
    (...cookies: string[]): Route =>
    (_req, res) => {
      res.setHeader('set-cookie', cookies);
      return false;
    };

  it("does not ask HttpOnly of a double-submit CSRF cookie, which the page's script must read", async () => {
    const report = await scan(
      await api(
        setting('XSRF-TOKEN=abc; Path=/; SameSite=Strict', 'sid=1; Path=/; HttpOnly; SameSite=Lax'),
      ),
    );
    expect(found(report, 'headers.cookies')?.status).toBe('pass');
  });

  it('says which attribute a cookie lacks', async () => {
    const report = await scan(await api(setting('sid=1; Path=/; SameSite=Lax')));
    expect(found(report, 'headers.cookies')).toMatchObject({
      status: 'fail',
      reason: 'The cookie "sid" lacks HttpOnly.',
    });
    const csrf = await scan(await api(setting('csrftoken=abc; Path=/')));
    expect(found(csrf, 'headers.cookies')).toMatchObject({
      status: 'fail',
      reason: 'The cookie "csrftoken" lacks SameSite.',
    });
  });

  it('fails SameSite=None without Secure, which browsers refuse (the CSRF cookie too)', async () => {
    for (const cookie of [
      'sid=1; Path=/; HttpOnly; SameSite=None',
      'sid=1; path=/; httponly; samesite=none',
      // "Secure" inside another attribute (its name or value) is not the attribute.
      'sid=1; Path=/Secure; HttpOnly; SameSite=None',
      'sid=1; Path=/; HttpOnly; Securely=1; SameSite=None',
    ]) {
      expect(
        found(await scan(await api(setting(cookie))), 'headers.cookies'),
        cookie,
      ).toMatchObject({
        status: 'fail',
        reason:
          'The cookie "sid" lacks Secure, which SameSite=None requires: browsers refuse such a cookie.',
      });
    }
    // A SameSite value browsers do not know is no SameSite at all.
    for (const cookie of ['sid=1; HttpOnly; SameSite', 'sid=1; HttpOnly; SameSite=Nope']) {
      expect(
        found(await scan(await api(setting(cookie))), 'headers.cookies'),
        cookie,
      ).toMatchObject({ status: 'fail', reason: 'The cookie "sid" lacks SameSite.' });
    }
    const csrf = await scan(await api(setting('XSRF-TOKEN=abc; Path=/; SameSite=None')));
    expect(found(csrf, 'headers.cookies')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('"XSRF-TOKEN" lacks Secure, which SameSite=None requires'),
    });
  });

  it('warns on SameSite=None with Secure: the cookie goes with requests from any site', async () => {
    const report = await scan(
      await api(
        setting(
          'theme=dark; Path=/; HttpOnly; SameSite=Lax',
          'sid=1; Path=/; HttpOnly; Secure; SameSite=None',
        ),
      ),
    );
    expect(found(report, 'headers.cookies')).toMatchObject({
      status: 'warn',
      reason: expect.stringMatching(
        /^The cookie "sid" is SameSite=None: browsers send it with requests from any site/,
      ),
      fix: expect.stringContaining('Partitioned'),
      evidence: 'GET / → 404',
    });
    // A cookie that fails outranks one that warns, whichever came first.
    const both = await scan(
      await api(setting('sid=1; HttpOnly; Secure; SameSite=None', 'pref=1; Path=/; SameSite=Lax')),
    );
    expect(found(both, 'headers.cookies')).toMatchObject({
      status: 'fail',
      reason: 'The cookie "pref" lacks HttpOnly.',
    });
  });

  it('passes SameSite=None with a reason it can see: a partitioned cookie, or the CSRF token', async () => {
    for (const cookie of [
      // CHIPS: kept per top-level site, so a forged request from another site carries none.
      'sid=1; Path=/; HttpOnly; Secure; SameSite=None; Partitioned',
      // Not a credential: a cross-site request that carries it still cannot read it into the
      // header the double-submit pattern compares it with.
      'XSRF-TOKEN=abc; Path=/; Secure; SameSite=None',
    ]) {
      expect(found(await scan(await api(setting(cookie))), 'headers.cookies')?.status, cookie).toBe(
        'pass',
      );
    }
  });
});

describe('bulwark audit and headers that name the framework', () => {
  it('warns on the version ASP.NET sends in X-AspNet-Version', async () => {
    const url = await api((_req, res) => {
      res.setHeader('x-aspnet-version', '4.0.30319');
      return false;
    });
    expect(found(await scan(url), 'headers.fingerprint')).toMatchObject({
      status: 'warn',
      reason: 'X-AspNet-Version tells the framework ("4.0.30319").',
    });
  });
});

describe('bulwark audit and algorithm confusion (HS256 keyed with the public key)', () => {
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

  /**
   * An API whose verifier trusts the token's alg (jsonwebtoken before 9 did, given a PEM string):
   * HS256 tokens are checked with HMAC keyed with `secret`, the public key's text as the API
   * keeps it; RS256 and EdDSA ones with the key itself.
   */
  async function confusedApi(
    publicKey: KeyObject,
    privateKey: KeyObject,
    secret: string,
  ): Promise<{ url: string; token: string }> {
    const rsa = publicKey.asymmetricKeyType === 'rsa';
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: rsa ? 'RS256' : 'EdDSA', typ: 'at+jwt', kid: 'k1' })}.${b64({ iss: 'https://i.example', aud: 'api', sub: 'u1', jti: 'j1', iat: now, exp: now + 600 })}`;
    const signature = sign(rsa ? 'sha256' : null, Buffer.from(input), privateKey);
    const token = `${input}.${signature.toString('base64url')}`;
    const url = await api((req, res, _body, u) => {
      if (u.pathname === '/.well-known/jwks.json')
        return json(res, 200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }] });
      if (u.pathname !== '/me') return false;
      const [h = '', p = '', s = ''] = (req.headers.authorization ?? '').slice(7).split('.');
      let ok: boolean;
      try {
        const alg = (JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string }).alg;
        ok =
          alg === 'HS256'
            ? createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url') === s
            : verify(
                rsa ? 'sha256' : null,
                Buffer.from(`${h}.${p}`),
                publicKey,
                Buffer.from(s, 'base64url'),
              );
      } catch {
        ok = false;
      }
      if (ok) return json(res, 200, { id: 'u1' });
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return true;
    });
    return { url, token };
  }

  it('finds a verifier keyed with the PEM as an environment variable holds it (no final newline)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pem = (publicKey.export({ type: 'spki', format: 'pem' }) as string).trimEnd();
    const { url, token } = await confusedApi(publicKey, privateKey, pem);
    const report = await scan(url, { token, protectedPath: '/me' });
    expect(found(report, 'jwt.forgery')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining(
        'HS256 keyed with the published public key "k1" (PEM without its final newline)',
      ),
    });
  });

  it('finds a verifier keyed with an RSA key in PKCS#1 PEM', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const { url, token } = await confusedApi(publicKey, privateKey, pem);
    const report = await scan(url, { token, protectedPath: '/me' });
    expect(found(report, 'jwt.forgery')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('(PKCS#1 PEM)'),
    });
  });

  it('passes a verifier that pins its algorithm', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    // No HMAC secret can match: HS256 is refused whatever the key.
    const { url, token } = await confusedApi(publicKey, privateKey, `${Math.random()}`);
    const report = await scan(url, { token, protectedPath: '/me' });
    expect(found(report, 'jwt.forgery')).toMatchObject({
      status: 'pass',
      reason: expect.stringMatching(/^9 forged tokens were all refused/),
    });
  });
});

describe('bulwark audit and tokens in the URL', () => {
  it('fails an API that takes the token from ?token= (not only ?access_token=)', async () => {
    const token = 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6';
    const url = await api((req, res, _body, u) => {
      if (u.pathname !== '/me') return false;
      const given =
        /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? u.searchParams.get('token');
      if (given === token) return json(res, 200, { id: 'u1' });
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return true;
    });
    const report = await scan(url, { token, protectedPath: '/me' });
    expect(found(report, 'auth.token-in-url')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('(?token=)'),
      evidence: 'GET /me?token=… → 200',
    });
    expect(JSON.stringify(report)).not.toContain(token);
  });
});

describe('bulwark audit and TRACE', () => {
  it('fails a TRACE echo whose header names are canonicalised (Go, many proxies)', async () => {
    const url = await api((req, res) => {
      if (req.method !== 'TRACE') return false;
      const canonical = (name: string): string =>
        name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
      res.writeHead(200, { 'content-type': 'message/http' });
      res.end(
        `TRACE ${req.url} HTTP/1.1\r\n${Object.entries(req.headers)
          .map(([k, v]) => `${canonical(k)}: ${String(v)}`)
          .join('\r\n')}`,
      );
      return true;
    });
    expect(found(await scan(url), 'input.trace')).toMatchObject({
      status: 'fail',
      evidence: 'TRACE / → 200',
    });
  });
});

describe('bulwark audit and the login routes of other frameworks', () => {
  const document = (path: string): unknown => ({
    openapi: '3.0.1',
    info: { title: 'api', version: '1' },
    paths: {
      [path]: {
        post: {
          requestBody: {
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['username', 'password'],
                  properties: { username: { type: 'string' }, password: { type: 'string' } },
                },
              },
            },
          },
          responses: { 200: { description: 'a token' } },
        },
      },
    },
  });

  // JHipster's /api/authenticate, Django REST simplejwt's /api/token/.
  for (const path of ['/api/authenticate', '/api/token/']) {
    it(`finds the login route ${path} in the OpenAPI document`, async () => {
      const url = await api((req, res, _body, u) => {
        if (u.pathname === '/openapi.json') return json(res, 200, document(path));
        if (u.pathname === path && req.method === 'POST') {
          if (req.headers['content-type'] !== 'application/json')
            return json(res, 415, { detail: 'Unsupported media type' });
          return json(res, 401, { detail: 'No active account found with the given credentials' });
        }
        return false;
      });
      const report = await scan(url);
      expect(found(report, 'input.json-route')).toBeUndefined();
      expect(found(report, 'input.content-type')?.status).toBe('pass');
    });
  }
});

describe('bulwark audit and files and endpoints a deployment left reachable', () => {
  const EXPOSURE = [
    'exposure.env-file',
    'exposure.git',
    'exposure.actuator',
    'exposure.directory-listing',
  ];
  const DOTENV =
    '# production\nexport NODE_ENV=production\nDATABASE_URL="postgres://app:hunter2@db/app"\nJWT_SECRET=s3cret-value\n';
  const GIT_CONFIG =
    '[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote "origin"]\n\turl = https://deploy:ghp_token@github.com/acme/api.git\n';
  const LISTING =
    '<html>\n<head><title>Index of /</title></head>\n<body>\n<h1>Index of /</h1><hr><pre><a href="../">../</a>\n<a href=".env">.env</a>\n</pre><hr></body>\n</html>\n';
  const ACTUATOR_ENV = {
    activeProfiles: ['prod'],
    propertySources: [
      { name: 'systemEnvironment', properties: { DB_PASSWORD: { value: '******' } } },
    ],
  };
  const actuatorIndex = (...names: string[]) => ({
    _links: Object.fromEntries(
      ['self', ...names].map((name) => [
        name,
        { href: `http://x/actuator${name === 'self' ? '' : `/${name}`}`, templated: false },
      ]),
    ),
  });

  /** Answers `body` at `path` (GET), 200, and leaves every other request to the plain 404s. */
  const serving =
    (path: string, body: string | object, type = 'text/plain'): Route =>
    (req, res, _body, url) => {
      if (req.method !== 'GET' || url.pathname !== path) return false;
      if (typeof body === 'object') return json(res, 200, body);
      res.writeHead(200, { 'content-type': type }).end(body);
      return true;
    };

  const leaks: [string, string, Route, RegExp][] = [
    [
      'a dotenv file',
      'exposure.env-file',
      serving('/.env', DOTENV),
      /setting NODE_ENV, DATABASE_URL, JWT_SECRET \(its values/,
    ],
    [
      'a git config',
      'exposure.git',
      serving('/.git/config', GIT_CONFIG),
      /^\/\.git\/config is served/,
    ],
    // Config denied (or removed), HEAD still served: the objects rebuild the repository.
    [
      'a git HEAD',
      'exposure.git',
      serving('/.git/HEAD', 'ref: refs/heads/main\n'),
      /^\/\.git\/HEAD is served/,
    ],
    [
      'a detached git HEAD',
      'exposure.git',
      serving('/.git/HEAD', `${'a1b2c3d4e5'.repeat(4)}\n`),
      /^\/\.git\/HEAD/,
    ],
    [
      'Actuator env',
      'exposure.actuator',
      serving('/actuator/env', ACTUATOR_ENV),
      /^\/actuator\/env is open/,
    ],
    [
      'an Actuator index listing dumps',
      'exposure.actuator',
      serving('/actuator', actuatorIndex('health', 'heapdump', 'threaddump', 'loggers')),
      /open to anyone with heapdump, threaddump, loggers/,
    ],
    [
      'an nginx directory listing',
      'exposure.directory-listing',
      serving('/', LISTING, 'text/html'),
      /directory listing/,
    ],
    [
      "Python's directory listing",
      'exposure.directory-listing',
      serving(
        '/',
        '<!DOCTYPE HTML>\n<html>\n<head>\n<title>Directory listing for /</title>\n</head>',
        'text/html',
      ),
      /directory listing/,
    ],
  ];
  for (const [what, check, route, reason] of leaks) {
    it(`fails ${what}, and passes the other exposure checks of that server`, async () => {
      const report = await scan(await api(route));
      expect(found(report, check)).toMatchObject({
        status: 'fail',
        line: 17,
        reason: expect.stringMatching(reason),
        evidence: expect.stringMatching(/^GET \/\S* → 200$/),
        fix: expect.any(String),
      });
      for (const other of EXPOSURE.filter((id) => id !== check))
        expect(found(report, other)?.status, other).toBe('pass');
      // The file's secrets are named by key at most, never shown.
      const text = `${JSON.stringify(report)}${renderText(report)}`;
      for (const secret of ['hunter2', 's3cret-value', 'ghp_token', '******'])
        expect(text).not.toContain(secret);
    });
  }

  for (const [what, check, route] of leaks) {
    it(`fails ${what} at the origin's root when the base URL has a path, naming that URL`, async () => {
      const url = await api(route);
      const report = await scan(`${url}/api`);
      expect(found(report, check)).toMatchObject({
        status: 'fail',
        reason: expect.stringContaining(`${url}/`),
        evidence: expect.stringMatching(/^GET http:\/\/127\.0\.0\.1:\d+\/\S* → 200$/),
      });
      for (const other of EXPOSURE.filter((id) => id !== check))
        expect(found(report, other)?.status, other).toBe('pass');
    });
  }

  it('probes each place once: under the base path, and at the root only when they differ', async () => {
    const hits: string[] = [];
    const url = await api((req, _res, _body, u) => {
      hits.push(u.pathname);
      return false;
    });
    const count = (path: string): number => hits.filter((hit) => hit === path).length;
    const atRoot = await scan(url);
    for (const path of ['/.env', '/.git/config', '/.git/HEAD', '/actuator', '/actuator/env'])
      expect(count(path), path).toBe(1);
    expect(found(atRoot, 'exposure.env-file')?.reason).toBe('/.env is not served (404).');
    hits.length = 0;
    const under = await scan(`${url}/api/`);
    for (const path of ['/.env', '/.git/config', '/.git/HEAD', '/actuator', '/actuator/env']) {
      expect(count(`/api${path}`), path).toBe(1);
      expect(count(path), path).toBe(1);
    }
    expect(found(under, 'exposure.env-file')?.reason).toBe(
      `/.env is not served (404); ${url}/.env is not served (404).`,
    );
    expect(found(under, 'exposure.directory-listing')?.reason).toBe(
      "Neither the base path (404) nor the origin's root (404) answers a directory listing.",
    );
    expect(under.requests).toBe(hits.length);
  });

  it('passes a single-page app that answers 200 with its index.html at every path', async () => {
    const index =
      '<!doctype html>\n<html lang="en">\n<head><title>Acme</title>\n<script>window.env={API_URL:"/api"}</script></head>\n<body><div id="root"></div></body>\n</html>\n';
    const url = await api((req, res) => {
      if (req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(index);
      return true;
    });
    const report = await scan(url);
    for (const check of EXPOSURE) expect(found(report, check)?.status, check).toBe('pass');
    expect(found(report, 'exposure.env-file')?.reason).toBe(
      '/.env answered 200, but not with the file (an HTML page: a single-page app answering every path?).',
    );
  });

  it('passes an API that answers 200 JSON to unknown paths, and one that refuses them with 401 or 403', async () => {
    const catchAll = await api((req, res) => json(res, 200, { status: 'ok', path: req.url }));
    for (const check of EXPOSURE)
      expect(found(await scan(catchAll), check)?.status, check).toBe('pass');
    // Text that has an "=" in it, but names no environment variable.
    for (const text of ['status=ok\n', 'a=1&b=2', 'ok=true\nversion=3\n']) {
      const plain = await api((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
        return true;
      });
      expect(found(await scan(plain), 'exposure.env-file')?.status, text).toBe('pass');
    }
    for (const status of [401, 403]) {
      const refusing = await api((req, res, _body, u) =>
        u.pathname === '/' ? false : json(res, status, { error: 'unauthorized' }),
      );
      const report = await scan(refusing);
      for (const check of EXPOSURE) expect(found(report, check)?.status, check).toBe('pass');
      expect(found(report, 'exposure.env-file')?.reason).toBe(`/.env is refused (${status}).`);
    }
  });

  it('passes a HAL API (Spring Data REST) that answers its root, with _links, at every path', async () => {
    const url = await api((req, res) =>
      json(res, 200, {
        _links: {
          self: { href: 'http://x/' },
          users: { href: 'http://x/users' },
          profile: { href: 'http://x/profile' },
        },
      }),
    );
    expect(found(await scan(url), 'exposure.actuator')).toMatchObject({
      status: 'pass',
      reason:
        '/actuator answered 200, but not with an Actuator index; /actuator/env answered 200, but not with an Actuator document.',
    });
  });

  it('passes a clean server, and Spring Boot as it ships (Actuator listing health only)', async () => {
    const clean = await scan(await api(() => false));
    for (const check of EXPOSURE) expect(found(clean, check)?.status, check).toBe('pass');
    const spring = await scan(
      await api(serving('/actuator', actuatorIndex('health', 'health-path'))),
    );
    expect(found(spring, 'exposure.actuator')).toMatchObject({
      status: 'pass',
      reason:
        'Spring Boot Actuator lists only self, health, health-path; /actuator/env is not served (404).',
    });
  });

  it('skips a probe answered 429 instead of judging the limit, and stays within its budget', async () => {
    let sent = 0;
    const limited: string[] = [];
    const url = await api((req, res, _body, u) => {
      sent += 1;
      if (!/^\/(?:\.env|\.git\/|actuator)/.test(u.pathname)) return false;
      limited.push(u.pathname);
      res.writeHead(429, { 'retry-after': '30', 'content-type': 'application/json' }).end('{}');
      return true;
    });
    const report = await scan(url);
    for (const check of ['exposure.env-file', 'exposure.git', 'exposure.actuator']) {
      expect(found(report, check), check).toMatchObject({
        status: 'skip',
        reason: expect.stringMatching(/rate limited \(429\).*Scan again in 30 s\.$/),
      });
    }
    // One request each (git and Actuator stop at their first 429): nothing is retried.
    expect(limited).toEqual(['/.env', '/.git/config', '/actuator']);
    expect(sent).toBe(report.requests);
    expect(report.findings.filter((f) => f.check.startsWith('exposure.'))).toHaveLength(4);
  });
});
