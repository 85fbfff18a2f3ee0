import {
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A deliberately broken API for the scanner's tests: every mistake `bulwark audit` looks for,
 * made the way real code makes it. Never use any of this outside these tests.
 */
export interface InsecureApi {
  url: string;
  /** A token this API issued (EdDSA, lives a week, no iss or aud). */
  token: string;
  /** How many requests it has answered. */
  requests(): number;
  close(): Promise<void>;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The classic broken verifier: trusts the token's own alg and key. */
function naiveVerify(token: string, publicKey: KeyObject, publicPem: string): boolean {
  const [h, p, s] = token.split('.');
  if (h === undefined || p === undefined || s === undefined) return false;
  const header = decodePart(h);
  const input = Buffer.from(`${h}.${p}`);
  const alg = String(header.alg).toLowerCase();
  if (alg === 'none') return true;
  if (alg === 'hs256') {
    // The kid picks the key: read as a file name, or looked up by string-built SQL.
    const kid = typeof header.kid === 'string' ? header.kid : '';
    const secret = kid.includes('/') ? '' : (/UNION SELECT '(\w+)'/.exec(kid)?.[1] ?? publicPem);
    return createHmac('sha256', secret).update(input).digest('base64url') === s;
  }
  const key =
    header.jwk === undefined
      ? publicKey
      : createPublicKey({ key: header.jwk as never, format: 'jwk' });
  return verify(null, input, key, Buffer.from(s, 'base64url'));
}

export async function startInsecureApi(): Promise<InsecureApi> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid: 'k1' })}.${b64({ sub: 'u1', role: 'user', iat: now, exp: now + 7 * 86_400 })}`;
  const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
  let count = 0;

  const openapi = {
    openapi: '3.0.3',
    info: { title: 'insecure', version: '1' },
    components: { securitySchemes: { jwt: { type: 'http', scheme: 'bearer' } } },
    paths: {
      '/me': { get: { security: [{ jwt: [] }], responses: { 200: { description: 'me' } } } },
      '/login': {
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
          responses: { 200: { description: 'ok' } },
        },
      },
      '/items/{id}': { get: { responses: { 200: { description: 'an item' } } } },
    },
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const origin = req.headers.origin;
    res.setHeader('X-Powered-By', 'Express');
    res.setHeader('Server', 'nginx/1.18.0');
    if (origin !== undefined) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    if (req.method === 'TRACE') {
      return void res.writeHead(200, { 'content-type': 'message/http' }).end(
        `${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers)
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join('\r\n')}`,
      );
    }
    if (req.method === 'GET' && url.pathname === '/') {
      res.setHeader('Set-Cookie', 'sid=abc123; Path=/');
      return void res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Welcome</h1>');
    }
    if (req.method === 'GET' && url.pathname === '/openapi.json') return json(200, openapi);
    if (req.method === 'GET' && url.pathname === '/.well-known/jwks.json') {
      // Publishes the private half too.
      return json(200, { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'k1' }] });
    }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      return void res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(
          '# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total 42\n',
        );
    }
    // Deployed from its project directory, with Spring-style management endpoints left open.
    if (req.method === 'GET' && url.pathname === '/.env') {
      return void res
        .writeHead(200, { 'content-type': 'application/octet-stream' })
        .end('# local settings\nDATABASE_URL=postgres://app:hunter2@db/app\nJWT_SECRET=s3cret\n');
    }
    if (req.method === 'GET' && url.pathname === '/.git/HEAD') {
      return void res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end('ref: refs/heads/main\n');
    }
    if (req.method === 'GET' && url.pathname === '/actuator/env') {
      return json(200, { activeProfiles: ['prod'], propertySources: [] });
    }
    if (req.method === 'GET' && url.pathname === '/me') {
      const bearer =
        /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ??
        url.searchParams.get('access_token');
      if (bearer === null || bearer === undefined) return json(403, { error: 'forbidden' });
      let ok: boolean;
      try {
        ok = naiveVerify(bearer, publicKey, publicPem);
      } catch {
        ok = false;
      }
      return ok ? json(200, { id: 'u1', name: 'User' }) : json(403, { error: 'bad token' });
    }
    if (req.method === 'POST' && url.pathname === '/login') {
      // Any content type, any size, parsed as JSON; the parse error's stack goes to the client.
      try {
        const credentials = Object.assign({}, JSON.parse(body.toString('utf8'))) as Record<
          string,
          unknown
        >;
        return json(401, { error: `wrong password for ${String(credentials.username)}` });
      } catch (error) {
        return void res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end((error as Error).stack);
      }
    }
    res.writeHead(404, { 'content-type': 'text/html' }).end(`Cannot ${req.method} ${url.pathname}`);
  };

  const server: Server = createServer((req, res) => {
    count += 1;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
