import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { SigningKeyStore } from '../tokens/signing-keys.js';

const Jwk = Type.Object(
  {
    kty: Type.String(),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.Literal('sig'),
  },
  // Public members only: the schema drops anything else (a private `d` can never be served).
  { additionalProperties: false },
);

/** GET /.well-known/jwks.json: the public keys that verify access tokens (RFC 7517). */
export function jwksRoute(app: FastifyInstance, opts: { keys: SigningKeyStore }): void {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['auth'],
        summary: 'Public signing keys (current and still-valid previous).',
        response: { 200: Type.Object({ keys: Type.Array(Jwk) }, { additionalProperties: false }) },
      },
    },
    async (_request, reply) => {
      // Public and safe to cache briefly; rotation keeps old keys listed longer than this.
      reply.header('cache-control', 'public, max-age=300');
      return opts.keys.jwks();
    },
  );
}
