import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { requestTimeoutOptions } from './request-timeout.js';

/** Longest path + query carried over; longer targets go to the origin's root instead. */
export const MAX_REDIRECT_TARGET_LENGTH = 2048;

/*
 * Characters kept as they are in the redirect's path and query: RFC 3986 unreserved, sub-delims,
 * ':', '@', '/', '?' and '%' (existing escapes stay escapes). Everything else, CR and LF
 * included, is percent-encoded, so nothing the client sent can end the header or the authority.
 */
const KEEP = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]$/;

function encodeTarget(target: string): string {
  let out = '';
  for (const char of target) {
    if (KEEP.test(char)) out += char;
    else {
      // Node hands the request line over as latin1; anything wider came from a caller.
      const code = char.codePointAt(0)!;
      const bytes = code < 0x100 ? [code] : [...Buffer.from(char, 'utf8')];
      for (const byte of bytes) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/**
 * The path and query of a request target, always starting with exactly one '/'. Absolute-form
 * targets (`GET http://evil.example/x`) keep only their path and query; authority-form
 * (`CONNECT host:443`) and asterisk-form (`OPTIONS *`) become '/'. A leading '//' or '/\' is
 * collapsed: appended to the origin it would be harmless, but a client that resolves the
 * Location relative to anything would read it as another host.
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-3.2
 */
export function redirectPath(rawTarget: string): string {
  let target = rawTarget;
  if (!target.startsWith('/')) {
    if (!/^https?:\/\//i.test(target)) return '/';
    try {
      const url = new URL(target);
      target = `${url.pathname}${url.search}`;
    } catch {
      return '/';
    }
  }
  target = target.replace(/^[/\\]+/, '/');
  const encoded = encodeTarget(target);
  return encoded.length > MAX_REDIRECT_TARGET_LENGTH ? '/' : encoded;
}

/**
 * The Location for a request: the configured public origin, then the request's own path and
 * query. The Host header (and any host in an absolute-form target) is never used: taking it
 * would turn this listener into an open redirect.
 */
export function redirectLocation(publicOrigin: string, rawTarget: string): string {
  const location = `${publicOrigin}${redirectPath(rawTarget)}`;
  // Defence in depth: whatever the path holds, the result must still point at our origin.
  return new URL(location).origin === publicOrigin ? location : `${publicOrigin}/`;
}

export interface RedirectServerOptions {
  /** Exact https origin from server.publicOrigin. */
  publicOrigin: string;
  /** Upper bound for receiving a request's headers (slowloris protection). */
  requestTimeoutMs: number;
}

/**
 * A plain-HTTP listener that does nothing but redirect: every request gets 308 (method and body
 * preserved, RFC 9110 §15.4.9) to the same path on the public https origin, and the connection is
 * closed without reading a body. No Strict-Transport-Security here: RFC 6797 §7.2 forbids it over
 * plain HTTP.
 */
export function createRedirectServer(options: RedirectServerOptions): Server {
  const { publicOrigin } = options;
  const server = createServer(
    requestTimeoutOptions(options.requestTimeoutMs),
    (request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(308, {
        location: redirectLocation(publicOrigin, request.url ?? '/'),
        'content-length': '0',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'close',
      });
      response.end();
    },
  );
  server.keepAliveTimeout = 1_000;
  return server;
}
