import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';
import { problemFor } from './error-handler.js';
import { REQUEST_ID_HEADER } from './request-id.js';
import { securityHeaderSets } from './security-headers.js';

/** Node's client errors that have a status of their own; every other one is a 400. */
const CLIENT_ERRORS: Readonly<Record<string, readonly [ErrorCode, string]>> = Object.freeze({
  ERR_HTTP_REQUEST_TIMEOUT: [
    'request_timeout',
    'The request was not received within the time this server allows.',
  ],
  HPE_HEADER_OVERFLOW: [
    'request_header_fields_too_large',
    'The request headers are larger than this server accepts.',
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [
    'payload_too_large',
    'The chunk extensions of the request body are larger than this server accepts.',
  ],
});
const MALFORMED: readonly [ErrorCode, string] = [
  'bad_request',
  'The request is not valid HTTP/1.1 (request line, header syntax or framing).',
];

export interface ClientErrorHandlerOptions {
  /** Strict-Transport-Security value, sent on TLS connections only (see hstsValue). */
  hsts: string;
  log: FastifyBaseLogger;
}

/** What a client error carries: Node's parser or timeout code (`HPE_*`, `ERR_HTTP_*`). */
export type ClientError = Error & { code?: string };

/**
 * Fastify's `clientErrorHandler`: answers requests that Node's HTTP parser refuses before any
 * hook runs (malformed request line or headers, bad framing, 431, 408) in the same shape as
 * every other error: a problem document with a fresh request id and the security headers, then
 * the connection is closed (the parser cannot resynchronise on it). Fastify's default would send
 * its own JSON shape with no headers, which fingerprints the framework.
 * @see https://nodejs.org/api/http.html#event-clienterror
 */
export function clientErrorHandler(
  options: ClientErrorHandlerOptions,
): (error: ClientError, socket: Socket) => void {
  const sets = securityHeaderSets(options.hsts);
  const headerBlock = (set: typeof sets.plain): string =>
    set.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const plainHeaders = headerBlock(sets.plain);
  const httpsHeaders = headerBlock(sets.https);
  const log = options.log;

  return (error, socket) => {
    // A reset or destroyed socket has nobody left to answer (as in Fastify's default handler).
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [code, detail] = (error.code !== undefined && CLIENT_ERRORS[error.code]) || MALFORMED;
    const problem = new AppError(code, detail);
    const requestId = randomUUID();
    // The error's rawPacket holds the request bytes (a bearer token, a cookie): only codes are
    // logged, never the error itself.
    log.info(
      { requestId, status: problem.status, code, reason: error.code ?? 'unknown' },
      'request refused by the HTTP parser',
    );
    // Nothing may be written once part of a response is on the wire: it would corrupt it.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(problemFor(problem, requestId));
    const security =
      (socket as Partial<TLSSocket>).encrypted === true ? httpsHeaders : plainHeaders;
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
        'content-type: application/problem+json; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        'connection: close\r\n' +
        `${REQUEST_ID_HEADER}: ${requestId}\r\n` +
        security +
        `\r\n${body}`,
    );
    // Closed once the answer is flushed, not before: destroy() could drop it on a TLS socket.
    socket.destroySoon();
  };
}
