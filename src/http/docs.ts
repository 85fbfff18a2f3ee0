import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DOCS_CONTENT_SECURITY_POLICY } from './security-headers.js';

/**
 * When `serveUi`: OpenAPI 3.1 generated from the route schemas at /openapi.json, and the
 * interactive reference at /docs, served from the npm-installed swagger-ui assets so it works with
 * no internet. Otherwise nothing (the document is not generated).
 * Must be registered before the routes it documents.
 */
export const apiDocs = fp(
  async function apiDocs(
    app: FastifyInstance,
    opts: { version: string; serveUi: boolean },
  ): Promise<void> {
    // Docs off: nothing serves the document, so it is not built either (the generator and its
    // YAML and schema-resolver dependencies were ~90 modules loaded at every start).
    if (!opts.serveUi) return;
    // Imported here, not at the top: a deployment with docs off never loads them.
    const { default: fastifySwagger } = await import('@fastify/swagger');
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Bulwark API',
          version: opts.version,
          description:
            'Identity and user service. Errors are RFC 9457 application/problem+json documents with a stable `code`.',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          },
        },
      },
    });

    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
    const { default: fastifySwaggerUi } = await import('@fastify/swagger-ui');
    await app.register(fastifySwaggerUi, {
      routePrefix: '/docs',
      staticCSP: DOCS_CONTENT_SECURITY_POLICY,
      uiConfig: { deepLinking: false, validatorUrl: null },
    });
  },
  { name: 'bulwark-docs' },
);
