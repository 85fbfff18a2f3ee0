import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../errors.js';
import { problemFor } from '../http/error-handler.js';
import { requestTimeoutOptions } from '../http/request-timeout.js';
import type { SecurityEvents } from '../security-events.js';
import type { Metrics } from './metrics.js';
import { metricsTokenMatches } from './metrics-token.js';

/** How long a scrape request may take to arrive, headers and body (slowloris protection). */
const METRICS_REQUEST_TIMEOUT_MS = 10_000;

export interface MetricsServerOptions {
  /** Upper bound for receiving a request, in milliseconds; 10 s unless given (tests). */
  requestTimeoutMs?: number;
}

/**
 * The optional separate metrics listener (`metrics.port`): a bare HTTP server answering only
 * GET /metrics, so the scrape port exposes nothing of the API. On loopback by default; when a
 * token is configured it is required here too, and a wrong one is a `token.invalid` security
 * event as on the main port (this listener is the one put on a non-loopback address).
 * Refusals are problem+json like the API's, each with a request id of its own.
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly metrics: Metrics,
    private readonly token: string | undefined,
    private readonly events?: Pick<SecurityEvents, 'emit'>,
    options: MetricsServerOptions = {},
  ) {
    // Given to the constructor, not set afterwards: set later, requestTimeout left Node's 60 s
    // headersTimeout above it (so the two were swapped and a body could take 60 s) and its
    // 30 s expiry check, and a slow client held a connection for up to 90 s.
    const timeouts = requestTimeoutOptions(options.requestTimeoutMs ?? METRICS_REQUEST_TIMEOUT_MS);
    this.server = createServer(timeouts, (request, response) => {
      response.setHeader('cache-control', 'no-store');
      response.setHeader('x-content-type-options', 'nosniff');
      const path = (request.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        refuse(response, new AppError('not_found', 'Only /metrics is served on this port.'));
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        refuse(
          response,
          new AppError('method_not_allowed', '/metrics answers GET and HEAD.', {
            headers: { allow: 'GET, HEAD' },
          }),
        );
        return;
      }
      if (this.token !== undefined) {
        const header = request.headers.authorization;
        if (header === undefined) {
          refuse(
            response,
            new AppError('authentication_required', 'Send the metrics token as a bearer token.', {
              headers: { 'www-authenticate': 'Bearer realm="metrics"' },
            }),
          );
          return;
        }
        if (!metricsTokenMatches(header, this.token)) {
          const requestId = randomUUID();
          this.events?.emit({
            ...eventContext(request, requestId),
            type: 'token.invalid',
            outcome: 'denied',
            details: { reason: 'wrong metrics token' },
          });
          refuse(
            response,
            new AppError('invalid_token', 'The metrics token is not valid.', {
              headers: { 'www-authenticate': 'Bearer realm="metrics", error="invalid_token"' },
            }),
            requestId,
          );
          return;
        }
      }
      this.metrics.render().then(
        (body) => {
          response.writeHead(200, { 'content-type': this.metrics.contentType });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        () => {
          refuse(response, new AppError('internal_error', 'The metrics could not be rendered.'));
        },
      );
    });
    // Scrapers keep connections open; none may hold shutdown.
    this.server.keepAliveTimeout = 5_000;
  }

  /** Listens and resolves with the URL, e.g. http://127.0.0.1:9464/metrics. */
  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as AddressInfo;
        const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${shown}:${address.port}/metrics`);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** Who called: this listener trusts no proxy header, so the address is the socket's. */
function eventContext(request: IncomingMessage, requestId: string) {
  const agent = request.headers['user-agent'];
  return {
    ip: request.socket.remoteAddress ?? null,
    userAgent: typeof agent === 'string' ? agent.slice(0, 512) : null,
    requestId,
  };
}

function refuse(response: ServerResponse, error: AppError, requestId = randomUUID()): void {
  response.writeHead(error.status, {
    ...error.headers,
    'content-type': 'application/problem+json; charset=utf-8',
    'x-request-id': requestId,
  });
  response.end(JSON.stringify(problemFor(error, requestId)));
}
