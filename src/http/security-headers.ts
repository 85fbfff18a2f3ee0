import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Headers every API response carries. They are computed once: the set is static, and doing
 * helmet's per-request work here would cost more than the rest of a cached authenticated request.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/REST_Security_Cheat_Sheet.html#security-headers
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  // An API answers JSON, never documents: nothing may load, run or frame.
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // The legacy XSS auditor caused leaks of its own; OWASP's advice is to switch it off.
  'x-xss-protection': '0',
  // Auth and user data must never sit in a shared or browser cache.
  'cache-control': 'no-store',
});

/** CSP for the interactive API reference at /docs: its own scripts and styles, nothing else. */
export const DOCS_CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const entries = Object.entries(API_SECURITY_HEADERS);

/** Adds the security headers to every response, including errors and 404s. */
export const securityHeaders = fp(
  function securityHeaders(app: FastifyInstance): void {
    app.addHook('onRequest', (_request, reply, done) => {
      for (const [name, value] of entries) reply.header(name, value);
      done();
    });
  },
  { name: 'bulwark-security-headers' },
);
