import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
  const write = rawProblemWriter(options.hsts);
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
    write(socket, problem, requestId);
  };
}

/**
 * Writes a problem document straight to a socket, with a request id and the security headers,
 * then closes the connection once it is flushed. For answers given before (or instead of) any
 * Fastify request: the parser's refusals, CONNECT, an unmet `Expect`.
 */
function rawProblemWriter(
  hsts: string,
): (socket: Socket, problem: AppError, requestId: string, extra?: string) => void {
  const sets = securityHeaderSets(hsts);
  const headerBlock = (set: typeof sets.plain): string =>
    set.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const plainHeaders = headerBlock(sets.plain);
  const httpsHeaders = headerBlock(sets.https);
  return (socket, problem, requestId, extra = '') => {
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
        extra +
        security +
        `\r\n${body}`,
    );
    // Closed once the answer is flushed, not before: destroy() could drop it on a TLS socket.
    socket.destroySoon();
  };
}

/**
 * Answers the two kinds of request that Node's HTTP server handles itself, never passing them to
 * Fastify, in the same problem shape as everything else: `CONNECT` (Node destroys the socket
 * without a word when nobody listens for it; this server is no proxy, so 405 `method_not_allowed`)
 * and an `Expect` other than `100-continue` (Node's own 417 has an empty body and none of the
 * security headers: now 417 `expectation_failed`). Both close the connection.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.1.1
 */
export function answerUnhandledRequests(server: Server, options: ClientErrorHandlerOptions): void {
  const write = rawProblemWriter(options.hsts);
  const sets = securityHeaderSets(options.hsts);
  const { log } = options;
  server.on('connect', (_request: IncomingMessage, socket: Socket) => {
    const requestId = randomUUID();
    log.info({ requestId, method: 'CONNECT', status: 405 }, 'CONNECT refused: not a proxy');
    write(
      socket,
      new AppError('method_not_allowed', 'CONNECT is not supported: this server is not a proxy.'),
      requestId,
    );
  });
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const requestId = randomUUID();
    const problem = new AppError(
      'expectation_failed',
      'The Expect header asks for something this server does not do: only 100-continue is supported.',
    );
    log.info(
      { requestId, method: request.method, status: problem.status, code: problem.code },
      'request refused: unsupported Expect',
    );
    const body = JSON.stringify(problemFor(problem, requestId));
    const security =
      (request.socket as Partial<TLSSocket>).encrypted === true ? sets.https : sets.plain;
    response.writeHead(problem.status, {
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      // The request body, if any, was never read: the connection cannot be reused.
      connection: 'close',
      [REQUEST_ID_HEADER]: requestId,
      ...Object.fromEntries(security),
    });
    response.end(body);
  });
}

/**
 * Closes a TLS connection whose handshake failed or timed out, at once. Node's HTTPS server hands
 * such an error to `clientError`, whose handler (above) answers with an HTTP problem and closes
 * the socket once that is flushed; before a handshake nothing can be flushed, so the connection
 * stayed open for as long as the client kept it: an idle TCP connection, or one that stopped
 * inside its ClientHello, held a descriptor (and a graceful close) indefinitely.
 */
export function closeFailedHandshakes(server: Server, log: FastifyBaseLogger): void {
  server.prependListener('tlsClientError', (error: ClientError, socket: Socket) => {
    log.debug({ reason: error.code ?? 'unknown' }, 'TLS handshake failed');
    socket.destroy();
  });
}
