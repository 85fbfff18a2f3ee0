import fastifyCors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config/index.js';
import { AppError } from '../errors.js';

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
  // The RFC 6750 / RFC 9470 challenge (invalid_token, insufficient_user_authentication and its
  // acr/max_age): a browser app on a listed origin reads it to know to sign in again, or to step up.
  'www-authenticate',
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
    // @fastify/cors's strictPreflight answers an incomplete preflight with a text/plain 400 of
    // its own. The same rule runs here first, so the answer is a problem document; strictPreflight
    // stays on behind it. A preflight from an origin that is not listed gets no CORS headers, as
    // before, and a 403 that says why: it fell through to the router's 405 "this resource answers
    // GET, …", which sent a front-end developer looking for a wrong method.
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.method !== 'OPTIONS') {
        done();
        return;
      }
      const origin = request.headers.origin;
      const granted = wildcard || (origin !== undefined && allowed.has(origin));
      if (!granted && origin && request.headers['access-control-request-method']) {
        done(
          new AppError(
            'forbidden',
            'This origin may not call the API from a browser: it is not one of the allowed origins (cors.origins).',
          ),
        );
        return;
      }
      // Falsy, as for the plugin: an empty header counts as a missing one.
      if (granted && (!origin || !request.headers['access-control-request-method'])) {
        done(
          new AppError(
            'bad_request',
            'A CORS preflight needs the Origin and Access-Control-Request-Method headers.',
          ),
        );
        return;
      }
      done();
    });
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
