import type { FastifyInstance } from 'fastify';
import { eventContext } from '../access/authenticate.js';
import { AppError } from '../errors.js';
import type { SecurityEvents } from '../security-events.js';
import type { Metrics } from './metrics.js';
import { metricsTokenMatches } from './metrics-token.js';

/**
 * GET /metrics on the main port, behind `metrics.token`. Only registered when a token is
 * configured: without one the route does not exist (404), so metrics are never open by default.
 */
export function metricsRoute(
  app: FastifyInstance,
  opts: { metrics: Metrics; token: string; events: SecurityEvents },
): void {
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const header = request.headers.authorization;
    if (header === undefined) {
      throw new AppError('authentication_required', 'Send the metrics token as a bearer token.', {
        headers: { 'www-authenticate': 'Bearer realm="metrics"' },
      });
    }
    if (!metricsTokenMatches(header, opts.token)) {
      opts.events.emit({
        ...eventContext(request),
        type: 'token.invalid',
        outcome: 'denied',
        details: { reason: 'wrong metrics token' },
      });
      throw new AppError('invalid_token', 'The metrics token is not valid.', {
        headers: { 'www-authenticate': 'Bearer realm="metrics", error="invalid_token"' },
      });
    }
    const body = await opts.metrics.render();
    return reply.header('cache-control', 'no-store').type(opts.metrics.contentType).send(body);
  });
}
