import fastifyCors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config/index.js';

/** Headers a browser may send cross-origin, and those it may read from answers. */
const ALLOWED_HEADERS = ['authorization', 'content-type', 'api-version', 'x-request-id'];
const EXPOSED_HEADERS = [
  'x-request-id',
  'api-version',
  'deprecation',
  'sunset',
  'link',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'retry-after',
];

/**
 * CORS by exact allow-list. An origin that is not listed (including `null`, which sandboxed
 * iframes and file: pages send) gets no Access-Control-Allow-Origin, so the browser keeps the
 * answer from the calling page. The origin is never reflected unless it is listed.
 */
export const cors = fp(
  async function cors(app: FastifyInstance, opts: { config: Config['cors'] }): Promise<void> {
    const wildcard = opts.config.origins.includes('*');
    const allowed = new Set(opts.config.origins);
    await app.register(fastifyCors, {
      origin: wildcard
        ? '*'
        : (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
      credentials: opts.config.credentials && !wildcard,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ALLOWED_HEADERS,
      exposedHeaders: EXPOSED_HEADERS,
      maxAge: opts.config.maxAgeSeconds,
      strictPreflight: true,
      hideOptionsRoute: true,
    });
  },
  { name: 'bulwark-cors' },
);
