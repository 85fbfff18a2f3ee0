import type { FastifyInstance } from 'fastify';
import { JWKS_MAX_AGE_SECONDS } from '../config/index.js';
import { JwksBody } from './schema.js';
import type { SigningKeyStore } from '../tokens/signing-keys.js';

/** GET /.well-known/jwks.json: the public keys that verify access tokens (RFC 7517). */
export function jwksRoute(app: FastifyInstance, opts: { keys: SigningKeyStore }): void {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['auth'],
        summary: 'Public signing keys (current and still-valid previous).',
        response: { 200: JwksBody },
      },
    },
    async (request, reply) => {
      // Public and safe to cache briefly; rotation keeps old keys listed longer than this.
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      try {
        // Never older than one refresh interval, like the keys this instance signs with.
        await opts.keys.refreshIfDue();
      } catch (error) {
        // Verifiers need the keys more than they need the newest one: serve what is loaded.
        request.log.warn({ err: error }, 'reloading signing keys failed: serving the loaded keys');
      }
      return opts.keys.jwks();
    },
  );
}
