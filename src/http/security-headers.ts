import type { FastifyInstance, FastifyRequest } from 'fastify';
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

/**
 * The Strict-Transport-Security value: always includeSubDomains (a sibling host on plain HTTP
 * could otherwise set cookies for the parent domain), `preload` only when asked for.
 * @see https://www.rfc-editor.org/rfc/rfc6797#section-6.1
 */
export function hstsValue(hsts: { maxAgeSeconds: number; preload: boolean }): string {
  return `max-age=${hsts.maxAgeSeconds}; includeSubDomains${hsts.preload ? '; preload' : ''}`;
}

/**
 * True when the client reached us over HTTPS: a TLS socket, or `X-Forwarded-Proto: https` from a
 * peer in server.trustProxy (Fastify's `protocol` ignores the header from anyone else).
 */
export function isHttpsRequest(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

export interface SecurityHeadersOptions {
  /** Strict-Transport-Security value for HTTPS responses (see hstsValue). */
  hsts: string;
}

/**
 * The two precomputed header lists: plain HTTP never gets HSTS (RFC 6797 §7.2: a browser must
 * ignore it there, and a man in the middle could strip or forge it anyway).
 */
export function securityHeaderSets(hsts: string): {
  plain: readonly (readonly [string, string])[];
  https: readonly (readonly [string, string])[];
} {
  const plain = Object.freeze(Object.entries(API_SECURITY_HEADERS));
  const https = Object.freeze([...plain, ['strict-transport-security', hsts] as const]);
  return { plain, https };
}

/** Adds the security headers to every response, including errors and 404s. */
export const securityHeaders = fp(
  function securityHeaders(app: FastifyInstance, opts: SecurityHeadersOptions): void {
    const sets = securityHeaderSets(opts.hsts);
    app.addHook('onRequest', (request, reply, done) => {
      for (const [name, value] of isHttpsRequest(request) ? sets.https : sets.plain) {
        reply.header(name, value);
      }
      done();
    });
  },
  { name: 'bulwark-security-headers' },
);
