import type { FastifyInstance } from 'fastify';
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
    async (_request, reply) => {
      // Public and safe to cache briefly; rotation keeps old keys listed longer than this.
      reply.header('cache-control', 'public, max-age=300');
      return opts.keys.jwks();
    },
  );
}
