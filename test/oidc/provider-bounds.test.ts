import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendGzipBomb } from '../helpers/gzip-bomb.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { APP_URL, cookieValue, LOGIN_COOKIE, PUBLIC_URL } from './support.js';

/*
 * A configured provider may be a partner nobody fully trusts (linking off). Whatever it answers,
 * the service reads at most a bounded body: a gzip bomb (a few KiB on the wire, GiB inflated)
 * from its discovery document or token endpoint must not be inflated into the server's memory
 * for the whole 10 s limit, on every sign-in anyone starts.
 */

let server: Server;
let base = '';
let t: TestApp;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    const issuer = `${base}/${url.pathname.split('/')[1]}`;
    if (url.pathname === '/bomb/.well-known/openid-configuration')
      return sendGzipBomb(res, `{"issuer":"${issuer}","x":"`);
    if (url.pathname === '/token-bomb/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return void res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
    }
    if (url.pathname === '/token-bomb/token') return sendGzipBomb(res, '{"access_token":"');
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = (name: string) => ({
    issuer: `${base}/${name}`,
    clientId: 'c',
    clientSecret: 's'.repeat(32),
    redirectUri: `${PUBLIC_URL}/api/v1/auth/oidc/${name}/callback`,
    appUrls: [APP_URL],
  });
  t = await buildTestApp({
    oidc: { providers: { bomb: provider('bomb'), 'token-bomb': provider('token-bomb') } },
  });
});
afterAll(async () => {
  await t?.app.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('a provider answering a gzip bomb', () => {
  it('as its discovery document: 502 at once, not after inflating it for 10 s', async () => {
    const began = Date.now();
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/oidc/bomb' });
    expect(res.statusCode).toBe(502);
    expect(res.json<{ code: string }>().code).toBe('oidc_provider_unavailable');
    expect(Date.now() - began).toBeLessThan(5_000);
  });

  it('from its token endpoint: refused at once', async () => {
    const start = await t.app.inject({ method: 'GET', url: '/api/v1/auth/oidc/token-bomb' });
    expect(start.statusCode, start.body).toBe(302);
    const state = new URL(start.headers.location as string).searchParams.get('state')!;
    const began = Date.now();
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/auth/oidc/token-bomb/callback?code=c&state=${encodeURIComponent(state)}`,
      headers: { cookie: `${LOGIN_COOKIE}=${cookieValue(start.headers, LOGIN_COOKIE)}` },
    });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.headers.location).toBeUndefined();
    expect(Date.now() - began).toBeLessThan(5_000);
  });
});
