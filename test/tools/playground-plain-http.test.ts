import type { FastifyInstance } from 'fastify';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildToolsApp } from '../../src/tools/server.js';

/*
 * Plain http is allowed for a test provider on loopback only. openid-client's opt-in to plain
 * http covers every request of the configuration, so a loopback issuer's metadata could name a
 * token endpoint elsewhere over plain http: the client secret and the code would cross the
 * network in clear text, while the page only flags the "https" check after the fact.
 */

const HOST = { host: '127.0.0.1:4000' };
let server: Server;
let base = '';
let tools: FastifyInstance;

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', base).pathname.split('/')[1]!;
    const issuer = `${base}/${name}`;
    const remote = 'http://idp.example.com';
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: name === 'token' ? `${remote}/token` : `${issuer}/token`,
        userinfo_endpoint: name === 'userinfo' ? `${remote}/userinfo` : `${issuer}/userinfo`,
        jwks_uri: name === 'jwks' ? `${remote}/jwks` : `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tools = await buildToolsApp({ baseUrl: () => 'http://127.0.0.1:4000' });
});
afterAll(async () => {
  await tools?.close();
  await new Promise((resolve) => server.close(resolve));
});

const start = (name: string) =>
  tools.inject({
    method: 'POST',
    url: '/api/oidc/start',
    headers: HOST,
    payload: { issuer: `${base}/${name}`, clientId: 'c', clientSecret: 'sekrit' },
  });

describe('OIDC playground: a plain-http loopback issuer', () => {
  it('is refused when its metadata sends the secret, code or tokens over plain http elsewhere', async () => {
    for (const name of ['token', 'userinfo', 'jwks']) {
      const res = await start(name);
      expect(res.statusCode, name).toBe(400);
      expect(res.json<{ detail: string }>().detail, name).toContain('http://idp.example.com/');
    }
  });

  it('is taken when every endpoint is on loopback too', async () => {
    const res = await start('local');
    expect(res.statusCode, res.body).toBe(200);
  });
});
