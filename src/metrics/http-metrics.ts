import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from './metrics.js';

const started = Symbol('bulwark.metricsStart');

declare module 'fastify' {
  interface FastifyRequest {
    [started]?: number | undefined;
  }
}

/**
 * Times every request into the duration histogram and counts those in flight. Wrapped with
 * fastify-plugin so its hooks see every route. Labels are the route template (`/users/:id`),
 * never the raw path, and the status class: a bounded label set however many ids exist.
 */
export const httpMetrics = fp(
  function httpMetrics(app: FastifyInstance, opts: { metrics: Metrics }): void {
    const { metrics } = opts;
    // Exactly once per request, whether it completes or the client goes away first.
    const finish = (request: FastifyRequest, statusCode: number | undefined): void => {
      const start = request[started];
      if (start === undefined) return;
      request[started] = undefined;
      metrics.requestsInFlight -= 1;
      if (statusCode === undefined) return;
      metrics.httpRequestDuration.observe(
        request.method,
        request.routeOptions.url ?? '(unmatched)',
        statusCode,
        (performance.now() - start) / 1e3,
      );
    };
    app.addHook('onRequest', (request, _reply, done) => {
      request[started] = performance.now();
      metrics.requestsInFlight += 1;
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      finish(request, reply.statusCode);
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      finish(request, undefined);
      done();
    });
  },
  { name: 'bulwark-http-metrics' },
);
