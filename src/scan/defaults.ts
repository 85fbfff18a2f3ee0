/** The scan's defaults: its own module, so the CLI's usage text needs none of the scanner. */
export const SCAN_DEFAULTS = Object.freeze({
  openapiPath: '/openapi.json',
  foreignOrigin: 'https://bulwark-audit.invalid',
  rateLimitRequests: 100,
  maxRequests: 400,
  timeoutMs: 10_000,
  maxDurationMs: 600_000,
});
