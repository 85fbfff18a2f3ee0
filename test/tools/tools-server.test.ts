import type { FastifyInstance } from 'fastify';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildToolsApp,
  jsonForHtml,
  startToolsServer,
  TOOLS_CONTENT_SECURITY_POLICY,
} from '../../src/tools/server.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerAndLogin } from '../helpers/identity.js';
import { TestOidcProvider } from '../helpers/oidc-provider.js';

const HOST = { host: '127.0.0.1:4000' };

describe('the tools server', () => {
  let tools: FastifyInstance;
  let bulwark: TestApp;
  let bulwarkUrl: string;
  let token: string;

  beforeAll(async () => {
    tools = await buildToolsApp({ baseUrl: () => 'http://127.0.0.1:4000' });
    bulwark = await buildTestApp();
    await bulwark.app.listen({ port: 0, host: '127.0.0.1' });
    bulwarkUrl = `http://127.0.0.1:${(bulwark.app.server.address() as AddressInfo).port}`;
    token = (await registerAndLogin(bulwark.app)).accessToken;
  });
  afterAll(async () => {
    await tools.close();
    await bulwark.app.close();
  });

  it('serves the pages with their CSP and the security headers', async () => {
    for (const url of ['/', '/jwt', '/oidc']) {
      const res = await tools.inject({ url, headers: HOST });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toBe(TOOLS_CONTENT_SECURITY_POLICY);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const script = await tools.inject({ url: '/assets/jwt.js', headers: HOST });
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await tools.inject({ url: '/assets/..%2Fserver.js', headers: HOST })).statusCode).toBe(
      400,
    );
    expect((await tools.inject({ url: '/assets/missing.js', headers: HOST })).statusCode).toBe(404);
  });

  it('answers a malformed URL with a problem document and its headers', async () => {
    for (const url of ['/assets/%zz', '/assets/%C0%AF', '/jwt?%']) {
      const res = await tools.inject({ url, headers: HOST });
      expect(res.statusCode, url).toBeLessThan(500);
      if (res.statusCode < 400) continue;
      expect(res.headers['content-type'], url).toBe('application/problem+json; charset=utf-8');
      expect(res.json<{ code: string }>().code).toBe('bad_request');
      expect(res.body).not.toContain('FST_ERR');
      expect(res.headers['content-security-policy']).toBe(TOOLS_CONTENT_SECURITY_POLICY);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers only to loopback host names (DNS rebinding)', async () => {
    for (const host of [
      'evil.example:4000',
      '127.0.0.1.nip.io:4000',
      'localhost.evil.example',
      '127.0.0.1:4000@evil.example',
      '[::1]x:4000',
    ]) {
      const res = await tools.inject({ url: '/jwt', headers: { host } });
      expect(res.statusCode, host).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    for (const host of ['localhost:4000', '[::1]:4000', '127.0.0.1']) {
      expect((await tools.inject({ url: '/jwt', headers: { host } })).statusCode).toBe(200);
    }
  });

  it('verifies a Bulwark access token against its JWKS URL', async () => {
    const res = await tools.inject({
      method: 'POST',
      url: '/api/jwt/verify',
      headers: HOST,
      payload: {
        token,
        jwksUrl: `${bulwarkUrl}/.well-known/jwks.json`,
        issuer: 'bulwark',
        audience: 'bulwark-api',
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      verdict: 'valid',
      signatureValid: true,
      header: { typ: 'at+jwt' },
    });
  });

  it('answers bad input with a problem document naming the field', async () => {
    const cases = [
      [{ token: 'x.y' }, '/body/token'],
      [{ token, jwksUrl: 'ftp://example.com/jwks' }, '/body/jwksUrl'],
      [{ token, jwksUrl: `${bulwarkUrl}/nothing-here` }, '/body/jwksUrl'],
      [{ token, jwks: '{"keys": 1}' }, '/body/jwks'],
      [{ token, jwks: '{"keys": [1]}' }, '/body/jwks'],
      [{ token, extra: 1 }, undefined],
    ] as const;
    for (const [payload, path] of cases) {
      const res = await tools.inject({
        method: 'POST',
        url: '/api/jwt/verify',
        headers: HOST,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      const problem = res.json<{ code: string; errors?: { path: string }[] }>();
      expect(problem.code).toBe('validation_failed');
      if (path !== undefined) expect(problem.errors?.[0]?.path).toBe(path);
    }
    const form = await tools.inject({
      method: 'POST',
      url: '/api/jwt/verify',
      headers: { ...HOST, 'content-type': 'text/plain' },
      payload: token,
    });
    expect(form.statusCode).toBe(415);
  });

  it('refuses a JWKS URL with a user name or password, and never shows them', async () => {
    const port = new URL(bulwarkUrl).port;
    for (const jwksUrl of [
      `http://user:pa55-w0rd@127.0.0.1:${port}/.well-known/jwks.json`,
      'https://user:pa55-w0rd@bad host/jwks',
    ]) {
      const res = await tools.inject({
        method: 'POST',
        url: '/api/jwt/verify',
        headers: HOST,
        payload: { token, jwksUrl },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        errors: [{ path: '/body/jwksUrl' }],
      });
      expect(res.body).not.toContain('pa55-w0rd');
    }
    const res = await tools.inject({
      method: 'POST',
      url: '/api/jwt/verify',
      headers: HOST,
      payload: { token, jwksUrl: `http://user:pa55-w0rd@127.0.0.1:${port}/.well-known/jwks.json` },
    });
    expect(res.json<{ detail: string }>().detail).toBe(
      'The JWKS URL must not contain a user name or password.',
    );
  });

  it('bounds the JWKS URL fetch: a stalled body, a huge body, a redirect and an empty body are 400s', async () => {
    let bytesSent = 0;
    const hostile = createServer((req, res) => {
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[');
        return;
      }
      if (req.url === '/empty') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(' \n');
        return;
      }
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `${bulwarkUrl}/.well-known/jwks.json` });
        res.end();
        return;
      }
      // An endless body without a length: it must be dropped past 256 KiB, not buffered.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && bytesSent < 64 * 1024 * 1024) {
          bytesSent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    const quick = await buildToolsApp({
      baseUrl: () => 'http://127.0.0.1:4000',
      fetchTimeoutMs: 500,
    });
    const base = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    try {
      for (const [path, detail] of [
        ['/stall', 'sent no complete answer within 0.5 s'],
        ['/huge', 'answered with more than 256 KiB'],
        ['/redirect', 'answered 302, a redirect, which is not followed'],
      ] as const) {
        const res = await quick.inject({
          method: 'POST',
          url: '/api/jwt/verify',
          headers: HOST,
          payload: { token, jwksUrl: `${base}${path}` },
        });
        expect(res.statusCode, path).toBe(400);
        expect(res.json<{ detail: string }>().detail).toBe(
          `The JWKS could not be fetched: ${detail}.`,
        );
      }
      // An empty 200 is no key set, not "no key given" (which would answer "not verified").
      const empty = await quick.inject({
        method: 'POST',
        url: '/api/jwt/verify',
        headers: HOST,
        payload: { token, jwksUrl: `${base}/empty` },
      });
      expect(empty.statusCode).toBe(400);
      expect(empty.json()).toMatchObject({
        code: 'validation_failed',
        detail: 'The JWKS URL answered an empty body.',
        errors: [{ path: '/body/jwksUrl' }],
      });
      expect(bytesSent).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await quick.close();
      hostile.closeAllConnections();
      await new Promise((resolve) => hostile.close(resolve));
    }
  });

  it('refuses an OIDC issuer that is not https or loopback, or cannot be discovered', async () => {
    const plain = await tools.inject({
      method: 'POST',
      url: '/api/oidc/start',
      headers: HOST,
      payload: { issuer: 'http://example.com', clientId: 'c' },
    });
    expect(plain.statusCode).toBe(400);
    expect(plain.json<{ detail: string }>().detail).toContain('must be https');
    const port = new URL(bulwarkUrl).port;
    const credentials = await tools.inject({
      method: 'POST',
      url: '/api/oidc/start',
      headers: HOST,
      payload: { issuer: `http://user:pa55-w0rd@127.0.0.1:${port}`, clientId: 'c' },
    });
    expect(credentials.statusCode).toBe(400);
    expect(credentials.json<{ detail: string }>().detail).toBe(
      'The issuer must not contain a user name or password.',
    );
    expect(credentials.body).not.toContain('pa55-w0rd');
    const none = await tools.inject({
      method: 'POST',
      url: '/api/oidc/start',
      headers: HOST,
      payload: { issuer: bulwarkUrl, clientId: 'c' },
    });
    expect(none.statusCode).toBe(400);
    expect(none.json<{ detail: string }>().detail).toMatch(
      /^Discovery at http:\/\/127\.0\.0\.1:\d+\/.well-known\/openid-configuration failed/,
    );
    // A key in the issuer's query is not shown back; the request it made is.
    const keyed = await tools.inject({
      method: 'POST',
      url: '/api/oidc/start',
      headers: HOST,
      payload: { issuer: `${bulwarkUrl}/tenant?key=pa55-w0rd`, clientId: 'c' },
    });
    expect(keyed.statusCode).toBe(400);
    expect(keyed.json<{ detail: string }>().detail).toMatch(
      /^Discovery at http:\/\/127\.0\.0\.1:\d+\/tenant\/.well-known\/openid-configuration\?key=\*\*\* failed/,
    );
    expect(keyed.body).not.toContain('pa55-w0rd');
  });

  it('checks a provider whose discovery document has the wrong types, and refuses an authorization endpoint that is not http(s)', async () => {
    const metadata: Record<string, Record<string, unknown>> = {
      '/bad-types': {
        response_types_supported: 'code',
        code_challenge_methods_supported: 'plain',
        id_token_signing_alg_values_supported: [null, {}],
      },
      '/not-urls': { token_endpoint: 'not a url', jwks_uri: 'file:///etc/passwd' },
      '/javascript': { authorization_endpoint: 'javascript:alert(1)//' },
      '/number': { authorization_endpoint: 42 },
    };
    const provider = createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(provider.address() as AddressInfo).port}${req.url!.replace('/.well-known/openid-configuration', '')}`;
      const doc = {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        ...metadata[new URL(issuer).pathname],
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    const start = (path: string) =>
      tools.inject({
        method: 'POST',
        url: '/api/oidc/start',
        headers: HOST,
        payload: { issuer: `${base}${path}`, clientId: 'c' },
      });
    try {
      const badTypes = await start('/bad-types');
      expect(badTypes.statusCode, badTypes.body).toBe(200);
      const checks = badTypes.json<{ checks: { check: string; status: string }[] }>().checks;
      expect(checks).toContainEqual(expect.objectContaining({ check: 'pkce', status: 'warn' }));
      expect(checks).toContainEqual(
        expect.objectContaining({ check: 'response-type', status: 'fail' }),
      );
      const notUrls = await start('/not-urls');
      expect(notUrls.statusCode, notUrls.body).toBe(200);
      expect(notUrls.json()).toMatchObject({
        checks: expect.arrayContaining([
          {
            check: 'https',
            status: 'fail',
            message: 'Endpoints not on HTTPS: not a url, file:///etc/passwd.',
          },
        ]),
      });
      for (const path of ['/javascript', '/number']) {
        const res = await start(path);
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toMatchObject({
          code: 'validation_failed',
          detail: "The provider's authorization_endpoint is not an http or https URL.",
          errors: [{ path: '/body/issuer' }],
        });
      }
    } finally {
      await new Promise((resolve) => provider.close(resolve));
    }
  });

  it('renders an unknown callback as a failed sign-in (400), with the JSON escaped for HTML', async () => {
    const res = await tools.inject({
      url: '/oidc/callback?code=x&state=%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E',
      headers: HOST,
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('"code":"unknown_state"');
    expect(res.body).not.toContain('<script>alert');
    expect(jsonForHtml({ a: '</script><!--&\u2028' })).toBe(
      '{"a":"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028"}',
    );
  });

  it("renders a provider's error text as it is, even with $' and $& in it (no replacement patterns)", async () => {
    const provider = await TestOidcProvider.start({
      redirectUris: ['http://127.0.0.1:4000/oidc/callback'],
      accounts: [{ sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'A' }],
    });
    try {
      const start = await tools.inject({
        method: 'POST',
        url: '/api/oidc/start',
        headers: HOST,
        payload: { issuer: provider.issuer, clientId: provider.clientId },
      });
      expect(start.statusCode).toBe(200);
      const state = new URL(
        start.json<{ authorizationUrl: string }>().authorizationUrl,
      ).searchParams.get('state')!;
      const description = "costs $5: $' and $` and $& and $$";
      const query = new URLSearchParams({
        error: 'access_denied',
        error_description: description,
        state,
        iss: provider.issuer,
      });
      const res = await tools.inject({ url: `/oidc/callback?${query.toString()}`, headers: HOST });
      expect(res.statusCode).toBe(200);
      expect(res.body.match(/<!doctype html>/gi)).toHaveLength(1);
      const data = /<script id="data" type="application\/json">([\s\S]*?)<\/script>/.exec(
        res.body,
      )?.[1];
      const result = JSON.parse(data ?? 'null') as {
        error?: { code: string; description: string };
      };
      expect(result.error).toEqual({ code: 'access_denied', description });
    } finally {
      await provider.stop();
    }
  });

  it('listens on loopback only', async () => {
    await expect(startToolsServer({ host: '0.0.0.0', port: 0 })).rejects.toThrow('loopback only');
    const server = await startToolsServer({ host: '127.0.0.1', port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${server.url}/api/oidc/redirect-uri`);
      expect(await res.json()).toEqual({ redirectUri: `${server.url}/oidc/callback` });
    } finally {
      await server.close();
    }
  });
});
