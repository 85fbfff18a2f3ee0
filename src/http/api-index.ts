import type { FastifyInstance } from 'fastify';
import { ApiIndexBody } from './schema.js';
import type { Config } from '../config/index.js';

/**
 * GET /api/vN: what this version is and whether it is deprecated; a cheap probe for clients.
 * A version is `deprecated` from its `deprecatedAt` on; before that it is still `stable`, with
 * the dates already announced (as the `Deprecation` header announces a future date).
 */
export function apiIndex(
  app: FastifyInstance,
  opts: { version: number; config: Config['api']; docsEnabled: boolean; now?: () => number },
): void {
  const deprecation = opts.config.deprecations[String(opts.version)];
  const deprecatedFrom = deprecation ? Date.parse(deprecation.deprecatedAt) : Infinity;
  const now = opts.now ?? Date.now;
  const body = {
    version: `v${opts.version}`,
    deprecatedAt: deprecation?.deprecatedAt ?? null,
    sunsetAt: deprecation?.sunsetAt ?? null,
    // Only what is served: with docs.enabled off (the production default) both would be 404.
    links: opts.docsEnabled
      ? { openapi: '/openapi.json', docs: '/docs' }
      : { openapi: null, docs: null },
  };
  app.get(
    '/',
    {
      schema: {
        tags: ['meta'],
        summary: 'Describe this API version.',
        response: { 200: ApiIndexBody },
      },
    },
    () => ({
      ...body,
      status: now() >= deprecatedFrom ? ('deprecated' as const) : ('stable' as const),
    }),
  );
}
