import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';
import { metricsTokenMatches } from './metrics-token.js';

/**
 * The optional separate metrics listener (`metrics.port`): a bare HTTP server answering only
 * GET /metrics, so the scrape port exposes nothing of the API. On loopback by default; when a
 * token is configured it is required here too.
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly metrics: Metrics,
    private readonly token: string | undefined,
  ) {
    this.server = createServer((request, response) => {
      response.setHeader('cache-control', 'no-store');
      response.setHeader('x-content-type-options', 'nosniff');
      const path = (request.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end();
        return;
      }
      if (
        this.token !== undefined &&
        !metricsTokenMatches(request.headers.authorization, this.token)
      ) {
        response
          .writeHead(401, {
            'www-authenticate': 'Bearer realm="metrics"',
            'content-type': 'text/plain',
          })
          .end('unauthorized\n');
        return;
      }
      this.metrics.render().then(
        (body) => {
          response.writeHead(200, { 'content-type': this.metrics.contentType });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        () => {
          response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    });
    // Scrapers keep connections open; none may hold shutdown.
    this.server.keepAliveTimeout = 5_000;
    this.server.requestTimeout = 10_000;
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
