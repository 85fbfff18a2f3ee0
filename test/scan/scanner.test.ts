import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScan, TargetUnreachableError } from '../../src/scan/scanner.js';
import { renderText } from '../../src/scan/report.js';
import type { ScanFinding, ScanReport } from '../../src/scan/types.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerAndLogin } from '../helpers/identity.js';
import { devCertFiles, type CertFiles } from '../helpers/tls.js';
import { startInsecureApi, type InsecureApi } from './insecure-api.js';

function byCheck(report: ScanReport): Record<string, ScanFinding> {
  const map: Record<string, ScanFinding> = {};
  for (const f of report.findings) map[f.check] = f;
  return map;
}

const statuses = (report: ScanReport): Record<string, string> =>
  Object.fromEntries(report.findings.map((f) => [f.check, f.status]));

/** Bulwark itself, listening on loopback, with the shipped auth limits (20 a minute). */
async function listeningBulwark(
  input: Parameters<typeof buildTestApp>[0] = {},
): Promise<{ t: TestApp; url: string }> {
  const t = await buildTestApp({ rateLimit: { auth: { points: 20 } }, ...input });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as AddressInfo;
  return { t, url: `${input.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}` };
}

describe('bulwark audit against Bulwark', () => {
  let t: TestApp;
  let url: string;
  let token: string;
  let report: ScanReport;

  beforeAll(async () => {
    ({ t, url } = await listeningBulwark());
    token = (await registerAndLogin(t.app)).accessToken;
    report = await runScan({ target: new URL(url), token });
  });
  afterAll(() => t.app.close());

  it('finds no fail, and every check it could run passes', () => {
    expect(report.findings.filter((f) => f.status === 'fail')).toEqual([]);
    // The one warning: plain HTTP on loopback, where TLS cannot be judged.
    expect(report.findings.filter((f) => f.status === 'warn').map((f) => f.check)).toEqual([
      'tls.https',
    ]);
    expect(report.findings.filter((f) => f.status === 'skip')).toEqual([]);
  });

  it('ran the token attacks, the body probes and the login throttle probe', () => {
    const found = byCheck(report);
    expect(found['jwt.forgery']).toMatchObject({
      status: 'pass',
      reason: expect.stringMatching(/^9 forged tokens were all refused/),
    });
    expect(found['jwt.claims']).toMatchObject({
      status: 'pass',
      reason:
        'The token is EdDSA-signed (verified with the published JWKS) with iss, aud and exp. Lives 15 min.',
    });
    expect(found['input.body-limit']?.reason).toContain('413');
    expect(found['ratelimit.login']).toMatchObject({
      status: 'pass',
      reason: expect.stringMatching(/after \d+ attempts \(429 with Retry-After/),
    });
    expect(found['errors.no-internals']?.status).toBe('pass');
    expect(report.openapi).toBe('/openapi.json');
    expect(report.requests).toBeLessThan(80);
  });

  it('still accepts the token it was given (the forgeries changed nothing)', async () => {
    const res = await t.app.inject({
      url: '/api/v1/users/me',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('bulwark audit against Bulwark without its OpenAPI document (production)', () => {
  it('runs every check when given the routes', async () => {
    const { t, url } = await listeningBulwark({ docs: { enabled: false } });
    try {
      const token = (await registerAndLogin(t.app)).accessToken;
      expect((await t.app.inject({ url: '/openapi.json' })).statusCode).toBe(404);
      const report = await runScan({
        target: new URL(url),
        token,
        protectedPath: '/api/v1/users/me',
        loginPath: '/api/v1/auth/login',
      });
      expect(report.openapi).toBeNull();
      expect(report.findings.filter((f) => f.status === 'fail')).toEqual([]);
      // Without a document only the route list itself cannot be judged.
      expect(report.findings.filter((f) => f.status === 'skip').map((f) => f.check)).toEqual([
        'versioning.paths',
      ]);
    } finally {
      await t.app.close();
    }
  });
});

describe('bulwark audit against a broken API', () => {
  let api: InsecureApi;
  let report: ScanReport;

  beforeAll(async () => {
    api = await startInsecureApi();
    report = await runScan({ target: new URL(api.url), token: api.token, rateLimitRequests: 15 });
  });
  afterAll(() => api.close());

  it('fails or warns on every mistake it makes', () => {
    expect(statuses(report)).toEqual({
      'jwks.public-only': 'fail',
      'auth.token-required': 'warn',
      'jwt.claims': 'fail',
      'jwt.forgery': 'fail',
      'auth.token-in-url': 'fail',
      'input.content-type': 'fail',
      'input.body-limit': 'fail',
      'input.prototype-poisoning': 'warn',
      'input.unknown-fields': 'warn',
      'input.trace': 'fail',
      'ratelimit.login': 'fail',
      'ratelimit.headers': 'warn',
      'tls.https': 'warn',
      'headers.csp': 'fail',
      'headers.nosniff': 'fail',
      'headers.framing': 'fail',
      'headers.referrer-policy': 'warn',
      'headers.cross-origin': 'warn',
      'headers.xss-protection': 'pass',
      'headers.cache-control': 'fail',
      'headers.fingerprint': 'warn',
      'headers.cookies': 'fail',
      'errors.not-found': 'warn',
      'errors.malformed-json': 'fail',
      'errors.no-internals': 'fail',
      'errors.no-5xx': 'fail',
      'metrics.protected': 'fail',
      'exposure.env-file': 'fail',
      'exposure.git': 'fail',
      'exposure.actuator': 'fail',
      'exposure.directory-listing': 'pass',
      'versioning.paths': 'warn',
      'cors.foreign-origin': 'fail',
      'cors.null-origin': 'fail',
      'cors.preflight': 'fail',
    });
  });

  it('says which attacks worked, with a fix and the evidence', () => {
    const found = byCheck(report);
    const forgery = found['jwt.forgery']!;
    expect(forgery.reason).toContain('alg "none"');
    expect(forgery.reason).toContain('HS256 keyed with the published public key');
    expect(forgery.reason).toContain('embedded as the jwk header');
    expect(forgery.reason).toContain('dev/null');
    expect(forgery.reason).toContain('UNION SELECT');
    // A changed signature or payload still fails the (real) EdDSA check of this API.
    expect(forgery.reason).not.toContain('one byte of the signature');
    expect(forgery.fix).toMatch(/pin the algorithm/);
    expect(found['jwks.public-only']!.reason).toContain('private or secret key material');
    expect(found['jwt.claims']!.reason).toMatch(/Lives 168 h.*; No iss.*; No aud/);
    expect(found['errors.no-internals']!.reason).toMatch(/a stack trace|a JavaScript exception/);
    expect(found['errors.no-internals']!.evidence).toBe('POST /login → 500');
    expect(found['cors.foreign-origin']!.reason).toContain('with credentials');
    expect(found['ratelimit.login']!.reason).toMatch(
      /^15 wrong-password logins in [\d.]+ s were all answered/,
    );
    expect(found['headers.fingerprint']!.reason).toContain('Express');
    expect(found['exposure.env-file']!.reason).toContain('setting DATABASE_URL, JWT_SECRET');
    expect(found['exposure.git']!.evidence).toBe('GET /.git/HEAD → 200');
    expect(JSON.stringify(report)).not.toContain('hunter2');
    for (const f of report.findings.filter((x) => x.status === 'fail' || x.status === 'warn')) {
      expect(f.fix, f.check).toEqual(expect.any(String));
    }
  });

  it('never puts the token it was given in the report', () => {
    const [, , signature] = api.token.split('.');
    expect(JSON.stringify(report)).not.toContain(signature);
  });

  it('stays within its request budget, and stops with an error beyond it', async () => {
    expect(report.requests).toBeLessThanOrEqual(70);
    const before = api.requests();
    await expect(
      runScan({ target: new URL(api.url), token: api.token, maxRequests: 10 }),
    ).rejects.toThrow('the scan needed more than 10 requests');
    expect(api.requests() - before).toBe(10);
  });
});

describe('bulwark audit without a token or an OpenAPI document', () => {
  let api: InsecureApi;
  beforeAll(async () => {
    api = await startInsecureApi();
  });
  afterAll(() => api.close());

  it('skips what it cannot test, and says what to pass', async () => {
    const report = await runScan({
      target: new URL(api.url),
      openapiPath: '/none.json',
      rateLimitRequests: 0,
    });
    const found = byCheck(report);
    expect(report.openapi).toBeNull();
    expect(found['auth.token-required']).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('--protected-path'),
    });
    expect(found['input.json-route']).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('--login-path'),
    });
    expect(found['versioning.paths']?.status).toBe('skip');
    expect(found['headers.cache-control']?.status).toBe('skip');
    // No route known at all: TRACE goes to the base path.
    expect(found['input.trace']).toMatchObject({ status: 'fail', evidence: 'TRACE / → 200' });
  });

  it('uses the routes it is given instead', async () => {
    const report = await runScan({
      target: new URL(api.url),
      openapiPath: '/none.json',
      protectedPath: '/me',
      loginPath: '/login',
      rateLimitRequests: 0,
    });
    const found = byCheck(report);
    expect(found['auth.token-required']?.status).toBe('warn');
    expect(found['jwt.forgery']).toMatchObject({
      status: 'skip',
      reason: expect.stringContaining('--token-file'),
    });
    expect(found['input.content-type']?.status).toBe('fail');
    expect(found['ratelimit.login']?.status).toBe('skip');
  });

  it('scans an API under a base path', async () => {
    const report = await runScan({ target: new URL(`${api.url}/`), rateLimitRequests: 0 });
    expect(report.target).toBe(`${api.url}/`);
    expect(byCheck(report)['jwks.public-only']?.status).toBe('fail');
  });

  it("probes the routes under the base path of the document's servers", async () => {
    const openapi = {
      openapi: '3.0.3',
      servers: [{ url: '/api' }],
      components: { securitySchemes: { jwt: { type: 'http', scheme: 'bearer' } } },
      paths: { '/me': { get: { security: [{ jwt: [] }] } } },
    };
    const server = createHttpServer((req, res) => {
      if (req.url === '/openapi.json')
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(openapi));
      else if (req.url === '/api/me') res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const report = await runScan({
        target: new URL(`http://127.0.0.1:${port}`),
        rateLimitRequests: 0,
      });
      expect(byCheck(report)['auth.token-required']).toMatchObject({
        status: 'pass',
        reason: '/api/me needs a token (401 with WWW-Authenticate: Bearer).',
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('finds the document in the other usual places (springdoc), and says when there is none', async () => {
    let served = true;
    const server = createHttpServer((req, res) => {
      if (served && req.url === '/v3/api-docs') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ openapi: '3.0.1', paths: {} }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const target = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      expect((await runScan({ target, rateLimitRequests: 0 })).openapi).toBe('/v3/api-docs');
      served = false;
      const none = await runScan({ target, rateLimitRequests: 0 });
      expect(none.openapi).toBeNull();
      expect(none.openapiProblem).toBe(
        'none of /openapi.json, /openapi.yaml, /v3/api-docs, /swagger.json, /api-docs, /docs/json, /api-json, /swagger/v1/swagger.json has an OpenAPI document (give one with --openapi)',
      );
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('says so when plain HTTP only redirects to HTTPS', async () => {
    const server = createHttpServer((req, res) =>
      res.writeHead(301, { location: `https://api.example.com${req.url ?? '/'}` }).end(),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const report = await runScan({
        target: new URL(`http://127.0.0.1:${port}`),
        rateLimitRequests: 0,
      });
      expect(byCheck(report)['tls.https']).toMatchObject({
        status: 'warn',
        reason:
          'Plain HTTP redirects to HTTPS (301 to https://api.example.com/), so the TLS checks did not run.',
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never shows a user name or password given in the target URL', async () => {
    const target = new URL(api.url);
    target.username = 'user';
    target.password = 'pa55-w0rd';
    const report = await runScan({ target, rateLimitRequests: 0 });
    expect(report.target).toBe(`${api.url}/`);
    expect(`${JSON.stringify(report)}${renderText(report)}`).not.toContain('pa55-w0rd');
    const closed = await startInsecureApi();
    await closed.close();
    const unreachable = new URL(closed.url);
    unreachable.username = 'user';
    unreachable.password = 'pa55-w0rd';
    const error = await runScan({ target: unreachable }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).not.toContain('pa55-w0rd');
  });

  it('refuses a target that does not answer', async () => {
    const closed = await startInsecureApi();
    await closed.close();
    await expect(runScan({ target: new URL(closed.url) })).rejects.toThrow(TargetUnreachableError);
    await expect(runScan({ target: new URL(closed.url) })).rejects.toThrow(
      /could not reach http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/,
    );
  });
});

describe('bulwark audit over HTTPS', () => {
  let cert: CertFiles;
  beforeAll(() => {
    cert = devCertFiles();
  });
  afterAll(() => cert.cleanup());

  it('passes Bulwark serving TLS: TLS 1.2+, a valid certificate, HSTS for a year', async () => {
    const { t, url } = await listeningBulwark({
      tls: { certFile: cert.certFile, keyFile: cert.keyFile },
    });
    try {
      const report = await runScan({ target: new URL(url), ca: cert.cert, rateLimitRequests: 0 });
      const found = byCheck(report);
      expect(found['tls.https']?.reason).toMatch(/^Served over HTTPS \(TLSv1\.[23]\)/);
      expect(found['tls.versions']?.status).toBe('pass');
      expect(found['tls.certificate']).toMatchObject({
        status: 'pass',
        reason: expect.stringMatching(/valid for (29|30) more days/),
      });
      expect(found['tls.hsts']).toMatchObject({
        status: 'pass',
        reason: expect.stringContaining('max-age=31536000'),
      });
    } finally {
      await t.app.close();
    }
  });

  it('fails a server that still speaks TLS 1.0/1.1 and sends no HSTS', async () => {
    const server = createHttpsServer(
      {
        cert: cert.cert,
        key: Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(cert.keyFile))),
        minVersion: 'TLSv1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      },
      (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const report = await runScan({
        target: new URL(`https://127.0.0.1:${port}`),
        ca: cert.cert,
        rateLimitRequests: 0,
      });
      const found = byCheck(report);
      expect(found['tls.versions']).toMatchObject({
        status: 'fail',
        reason: 'The server still agrees to TLSv1.1.',
      });
      expect(found['tls.hsts']?.status).toBe('fail');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not trust a certificate it was not told to trust', async () => {
    const { t, url } = await listeningBulwark({
      tls: { certFile: cert.certFile, keyFile: cert.keyFile },
    });
    try {
      await expect(runScan({ target: new URL(url), rateLimitRequests: 0 })).rejects.toThrow(
        /self[- ]signed/i,
      );
    } finally {
      await t.app.close();
    }
  });
});
