import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errorCatalog } from '../errors.js';
import { DOCS_CONTENT_SECURITY_POLICY } from './security-headers.js';

const DOCS_PREFIX = '/docs';

/** The RFC 9457 problem document every error answer is, as the OpenAPI document describes it. */
const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code', 'requestId'],
  properties: {
    type: { type: 'string', description: 'urn:bulwark:problem:<code>' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: {
      type: 'string',
      enum: Object.keys(errorCatalog),
      description: 'Stable: what a client branches on (docs/errors.md).',
    },
    requestId: { type: 'string', description: 'Also in the X-Request-Id header and the logs.' },
    errors: {
      type: 'array',
      description: 'validation_failed, weak_password: what is wrong with which field.',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: {
          path: { type: 'string', description: 'e.g. /body/email' },
          message: { type: 'string' },
        },
      },
    },
  },
} as const;

const PROBLEM_RESPONSE = {
  description:
    'An error: an RFC 9457 problem document with a stable `code` (docs/errors.md lists every code and its status).',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
} as const;

/**
 * Every operation's errors, as a `default` response (any status not listed): generated from the
 * route schemas, the document listed only the successes, so a client generated from it had no
 * type for the answers it must handle most carefully.
 */
function withProblemResponses<T extends object>(document: T): T {
  const doc = document as {
    components?: { schemas?: Record<string, unknown> };
    paths?: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
  };
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, Problem: PROBLEM_SCHEMA },
  };
  for (const item of Object.values(doc.paths ?? {})) {
    for (const operation of Object.values(item)) {
      if (typeof operation !== 'object' || operation === null) continue;
      operation.responses = { ...operation.responses, default: structuredClone(PROBLEM_RESPONSE) };
    }
  }
  return document;
}

const LEGACY_INDEX = `${DOCS_PREFIX}/static/index.html`;

/**
 * Answers swagger-ui's legacy `/docs/static/index.html` with a redirect to a fixed `/docs/`.
 * swagger-ui builds that Location from the raw request target, so an absolute-form target
 * (`GET http://evil.example/docs/static/index.html`) put a host of the client's choosing in it,
 * `//docs/static/index.html` (routed, as duplicate slashes are ignored) became the
 * protocol-relative `//docs/`, and a query string made it redirect to itself forever.
 */
function fixedIndexRedirect(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (request.routeOptions.url === LEGACY_INDEX) {
    void reply.redirect(`${DOCS_PREFIX}/`, 302);
    return;
  }
  done();
}

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
      // Only OpenAPI is generated here (never Swagger 2), so the other branch is never taken.
      transformObject: (document) =>
        'openapiObject' in document
          ? withProblemResponses(document.openapiObject)
          : document.swaggerObject,
    });

    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
    const { default: fastifySwaggerUi } = await import('@fastify/swagger-ui');
    await app.register(fastifySwaggerUi, {
      routePrefix: DOCS_PREFIX,
      staticCSP: DOCS_CONTENT_SECURITY_POLICY,
      uiConfig: { deepLinking: false, validatorUrl: null },
      uiHooks: { onRequest: fixedIndexRedirect },
    });
  },
  { name: 'bulwark-docs' },
);
