import { readFileSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { isLoopbackHost } from '../config/loopback.js';
import { AppError } from '../errors.js';
import { installErrorHandling, sendMalformedUrl } from '../http/error-handler.js';
import { jsonOnly } from '../http/json-body.js';
import { trackRouteMethods } from '../http/method-not-allowed.js';
import { API_SECURITY_HEADERS } from '../http/security-headers.js';
import { validatorCompiler } from '../http/validation.js';
import { fetchJwks } from './fetch-text.js';
import { InspectInputError, inspectJwt } from './jwt-inspect.js';
import { OidcPlayground, PlaygroundInputError, type StartInput } from './oidc-playground.js';
import { AssetParams, JwtVerifyBody, OidcCallbackQuery, OidcStartBody } from './schema.js';

/**
 * `bulwark tools`: a JWT verifier and an OIDC playground as web pages, on loopback only. Tokens,
 * keys and client secrets pasted into them go to this local process and nowhere else.
 */

/** CSP of the tool pages: their own script and style files, requests to this server only. */
export const TOOLS_CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Headers of every answer, errors included. */
const TOOLS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...API_SECURITY_HEADERS,
  'content-security-policy': TOOLS_CONTENT_SECURITY_POLICY,
});

const MAX_JWKS_BYTES = 256 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The pages and their assets, read once at start (a few small files). */
function loadPublicFiles(): Map<string, { body: Buffer; type: string }> {
  const dir = new URL('./public/', import.meta.url);
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) files.set(name, { body: readFileSync(new URL(name, dir)), type });
  }
  return files;
}

/** JSON for a <script type="application/json"> block: nothing in it can end the element. */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A `Host` header (name or address, then an optional port) that names loopback. */
function hostHeaderIsLoopback(value: string): boolean {
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::\d{1,5})?$/.exec(value);
  return match !== null && isLoopbackHost(match[1]!);
}

async function fetchJwksText(url: string, timeoutMs: number): Promise<string> {
  const result = await fetchJwks(url, { timeoutMs, maxBytes: MAX_JWKS_BYTES });
  const refuse = (detail: string, message: string): AppError =>
    new AppError('validation_failed', detail, { errors: [{ path: '/body/jwksUrl', message }] });
  if (result.ok) return result.text;
  switch (result.problem) {
    case 'not-a-url':
      throw refuse('The JWKS URL is not a URL.', 'is not a URL');
    case 'not-http':
      throw refuse('The JWKS URL must be http or https.', 'must be http or https');
    case 'credentials':
      throw refuse(
        'The JWKS URL must not contain a user name or password.',
        'must not contain a user name or password',
      );
    case 'unreachable':
      throw refuse(`The JWKS could not be fetched: ${result.reason}.`, result.reason);
    case 'status':
      throw refuse(`The JWKS URL answered ${result.status}.`, `answered ${result.status}`);
    case 'empty':
      // Empty key material reads as none given ("not verified"): the URL's fault, said as such.
      throw refuse('The JWKS URL answered an empty body.', 'answered an empty body');
  }
}

export interface ToolsAppOptions {
  /** The server's own base URL (`http://127.0.0.1:4000`), known once it listens. */
  baseUrl: () => string;
  /** Off unless given; tests pass `{ level, stream }` to read what a request leaves in the log. */
  logger?: FastifyServerOptions['logger'];
  /** Time limit of a JWKS URL fetch (default 10 s). */
  fetchTimeoutMs?: number;
}

export async function buildToolsApp(options: ToolsAppOptions): Promise<FastifyInstance> {
  const files = loadPublicFiles();
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 512 * 1024,
    // A malformed URL (`/assets/%zz`) fails before any hook runs, where Fastify would answer in
    // its own shape (naming its FST_ERR code) and without the headers below.
    frameworkErrors: (error, request, reply) => {
      reply.headers(TOOLS_HEADERS);
      void sendMalformedUrl(reply, request, error);
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  installErrorHandling(app, trackRouteMethods(app));
  jsonOnly(app, 16);
  const headers = Object.entries(TOOLS_HEADERS);
  app.addHook('onRequest', (request, reply, done) => {
    for (const [name, value] of headers) reply.header(name, value);
    // DNS rebinding: a web page whose name now points at 127.0.0.1 must not reach the tools.
    if (!hostHeaderIsLoopback(request.headers.host ?? '')) {
      done(
        new AppError(
          'bad_request',
          'The tools answer only to a loopback host name (127.0.0.1, localhost, [::1]).',
        ),
      );
      return;
    }
    done();
  });
  let playground: OidcPlayground | undefined;
  const playgroundFor = (): OidcPlayground =>
    (playground ??= new OidcPlayground(`${options.baseUrl()}/oidc/callback`));

  const page = (name: string) => () => {
    const file = files.get(name);
    if (file === undefined) throw new AppError('not_found', 'No such page.');
    return file;
  };
  for (const [path, name] of [
    ['/', 'index.html'],
    ['/jwt', 'jwt.html'],
    ['/oidc', 'oidc.html'],
  ] as const) {
    app.get(path, (_request, reply) => {
      const file = page(name)();
      return reply.type(file.type).send(file.body);
    });
  }
  app.get('/assets/:name', { schema: { params: AssetParams } }, (request, reply) => {
    const file = files.get((request.params as { name: string }).name);
    if (file === undefined) throw new AppError('not_found', 'No such file.');
    return reply.type(file.type).send(file.body);
  });

  app.post('/api/jwt/verify', { schema: { body: JwtVerifyBody } }, async (request) => {
    const body = request.body as {
      token: string;
      jwks?: string;
      jwksUrl?: string;
      pem?: string;
      secret?: string;
      issuer?: string;
      audience?: string;
      clockToleranceSeconds?: number;
    };
    const jwks =
      body.jwksUrl !== undefined && body.jwksUrl.trim() !== ''
        ? await fetchJwksText(body.jwksUrl.trim(), options.fetchTimeoutMs ?? FETCH_TIMEOUT_MS)
        : body.jwks;
    const key = {
      ...(jwks ? { jwks } : {}),
      ...(body.pem ? { pem: body.pem } : {}),
      ...(body.secret ? { secret: body.secret } : {}),
    };
    try {
      return await inspectJwt(body.token, {
        key,
        ...(body.issuer ? { issuer: body.issuer } : {}),
        ...(body.audience ? { audience: body.audience } : {}),
        ...(body.clockToleranceSeconds === undefined
          ? {}
          : { clockToleranceSeconds: body.clockToleranceSeconds }),
      });
    } catch (error) {
      if (error instanceof InspectInputError) {
        throw new AppError('validation_failed', error.message, {
          errors: [{ path: `/body/${error.field.replace('key.', '')}`, message: error.message }],
        });
      }
      throw error;
    }
  });

  app.post('/api/oidc/start', { schema: { body: OidcStartBody } }, async (request) => {
    const body = request.body as StartInput;
    try {
      return await playgroundFor().start(body);
    } catch (error) {
      if (error instanceof PlaygroundInputError) {
        throw new AppError('validation_failed', error.message, {
          errors: [{ path: `/body/${error.field}`, message: error.message }],
        });
      }
      throw error;
    }
  });

  app.get('/api/oidc/redirect-uri', () => ({ redirectUri: `${options.baseUrl()}/oidc/callback` }));

  app.get(
    '/oidc/callback',
    { schema: { querystring: OidcCallbackQuery } },
    async (request, reply) => {
      const query = new URL(request.url, 'http://x').search;
      const callbackUrl = new URL(`${options.baseUrl()}/oidc/callback${query}`);
      let result: unknown;
      let status = 200;
      try {
        result = await playgroundFor().finish(callbackUrl);
      } catch (error) {
        if (!(error instanceof PlaygroundInputError)) throw error;
        // No sign-in of ours: a stale or replayed callback, or one this server never started.
        status = 400;
        result = {
          ok: false,
          checks: [],
          error: { code: 'unknown_state', description: error.message },
        };
      }
      const template = page('oidc-result.html')().body.toString('utf8');
      return (
        reply
          .code(status)
          .type('text/html; charset=utf-8')
          // A function, not a string: `$'`, `$&`… in a provider's text are replacement patterns.
          .send(template.replace('<!--RESULT-->', () => jsonForHtml(result)))
      );
    },
  );
  await app.ready();
  return app;
}

export interface ToolsServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the tools on `host` (loopback only) and `port` (0: any free one). */
export async function startToolsServer(options: {
  host: string;
  port: number;
}): Promise<ToolsServer> {
  if (!isLoopbackHost(options.host)) {
    throw new Error(
      `the tools listen on loopback only (127.0.0.1, localhost, ::1), not ${options.host}`,
    );
  }
  let url = '';
  const app = await buildToolsApp({ baseUrl: () => url });
  await app.listen({ host: options.host, port: options.port });
  const { port } = app.server.address() as AddressInfo;
  const host = options.host.includes(':')
    ? `[${options.host.replace(/^\[|\]$/g, '')}]`
    : options.host;
  url = `http://${host}:${port}`;
  return { url, close: () => app.close() };
}
