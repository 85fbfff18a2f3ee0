import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwk, ed, PUBLIC_JWKS, secret, signed } from './hostile-jwt-inputs.js';

/*
 * A loopback server for the tools fuzz (test/tools/tools-fuzz.test.ts) that plays JWKS URLs and
 * OIDC providers, well and badly: statuses, HTML, huge and non-JSON answers, discovery documents
 * with wrong types or foreign issuers, key sets holding secrets, token endpoints that misbehave.
 */

/** A port nothing listens on: one the system gave out and took back. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts the hostile server on a loopback port; `base` is its http://127.0.0.1:port. */
export async function startHostileProvider(): Promise<{
  base: string;
  close: () => Promise<void>;
}> {
  let base = '';
  let jwksAsked = 0;
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
            JSON.stringify({
              ...(discovery(issuer, 'good') as object),
              pad: 'x'.repeat(2_000_000),
            }),
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

  const server: Server = createServer(hostileHandler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
