/** The scan's defaults: its own module, so the CLI's usage text needs none of the scanner. */
export const SCAN_DEFAULTS = Object.freeze({
  foreignOrigin: 'https://bulwark-audit.invalid',
  rateLimitRequests: 100,
  maxRequests: 400,
  timeoutMs: 10_000,
  maxDurationMs: 600_000,
});

/**
 * Where APIs commonly publish their OpenAPI document (Fastify and FastAPI, YAML, springdoc,
 * swagger-jsdoc, NestJS, ASP.NET), tried in order when no path is given.
 */
export const OPENAPI_CANDIDATES: readonly string[] = Object.freeze([
  '/openapi.json',
  '/openapi.yaml',
  '/v3/api-docs',
  '/swagger.json',
  '/api-docs',
  '/docs/json',
  '/api-json',
  '/swagger/v1/swagger.json',
]);
