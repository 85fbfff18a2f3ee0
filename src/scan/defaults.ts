/** The scan's defaults: its own module, so the CLI's usage text needs none of the scanner. */
export const SCAN_DEFAULTS = Object.freeze({
  foreignOrigin: 'https://bulwark-audit.invalid',
  rateLimitRequests: 100,
  maxRequests: 400,
  timeoutMs: 10_000,
  maxDurationMs: 600_000,
});

/**
 * The shortest token the report can be kept clear of: a shorter one, replaced wherever it
 * appears, would take words and numbers of the report with it, so the scan does not replace it
 * and the CLI refuses it (no real access token or API key is that short).
 */
export const MIN_TOKEN_LENGTH = 8;

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
