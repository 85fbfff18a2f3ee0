import type { FastifyInstance } from 'fastify';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendGzipBomb } from '../helpers/gzip-bomb.js';
import { buildToolsApp } from '../../src/tools/server.js';

/*
 * The OIDC playground reads what an issuer the user named answers, through openid-client, which
 * reads whole bodies. A hostile issuer's huge answer or gzip bomb (a few KiB on the wire, GiB
 * once inflated) must be cut off at a bound, not inflated into the tools' memory for the whole
 * 10 s time limit.
 */

const HOST = { host: '127.0.0.1:4000' };

let server: Server;
let base = '';
let tools: FastifyInstance;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    const issuer = `${base}/${url.pathname.split('/')[1]}`;
    const discovery = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: ['RS256'],
    };
    if (url.pathname === '/bomb/.well-known/openid-configuration')
      return sendGzipBomb(res, `{"issuer":"${issuer}","x":"`);
    if (url.pathname === '/huge/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return void res.end(JSON.stringify({ ...discovery, x: 'A'.repeat(8 * 1024 * 1024) }));
    }
    if (url.pathname === '/token-bomb/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return void res.end(JSON.stringify(discovery));
    }
    if (url.pathname === '/token-bomb/token') return sendGzipBomb(res, '{"access_token":"');
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tools = await buildToolsApp({ baseUrl: () => 'http://127.0.0.1:4000' });
});
afterAll(async () => {
  await tools?.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function start(issuer: string) {
  return tools.inject({
    method: 'POST',
    url: '/api/oidc/start',
    headers: HOST,
    payload: { issuer, clientId: 'c', clientSecret: 's' },
  });
}

describe('OIDC playground: bounded provider answers', () => {
  it('cuts off a discovery document past 1 MiB, plain or a gzip bomb, at once', async () => {
    for (const name of ['huge', 'bomb']) {
      const began = Date.now();
      const res = await start(`${base}/${name}`);
      expect(res.statusCode, name).toBe(400);
      expect(res.json<{ detail: string }>().detail, name).toMatch(
        /failed: The provider answered with more than 1024 KiB\.$/,
      );
      expect(Date.now() - began, name).toBeLessThan(5_000);
    }
  });

  it("cuts off the token endpoint's gzip bomb, and shows why on the result page", async () => {
    const started = await start(`${base}/token-bomb`);
    expect(started.statusCode, started.body).toBe(200);
    const state = new URL(
      started.json<{ authorizationUrl: string }>().authorizationUrl,
    ).searchParams.get('state')!;
    const began = Date.now();
    const res = await tools.inject({
      method: 'GET',
      url: `/oidc/callback?code=c&state=${encodeURIComponent(state)}`,
      headers: HOST,
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('"code":"response_too_large"');
    expect(res.body).toContain('The provider answered with more than 1024 KiB.');
    expect(Date.now() - began).toBeLessThan(5_000);
  });
});
