import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { HealthLiveBody, HealthReadyBody } from './schema.js';

/**
 * A readiness check: resolves when the dependency works, throws (or rejects) when it does not,
 * or resolves `'degraded'` when it fails but the instance still serves correctly enough to stay
 * in the load balancer (Redis down with redis.onOutage=failOpen).
 */
export type ReadinessCheck = () => Promise<void | 'ok' | 'degraded'> | void | 'ok' | 'degraded';

type CheckStatus = 'ok' | 'degraded' | 'fail';

/** Per-dependency checks behind /health/ready, registered by the capabilities that own them. */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private draining = false;

  constructor(private readonly timeoutMs = 2_000) {}

  /** Registers the check of one dependency (`database`, `redis` ...). */
  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Marks the instance as shutting down: load balancers should stop sending traffic. */
  drain(): void {
    this.draining = true;
  }

  async run(): Promise<{
    ready: boolean;
    degraded: boolean;
    checks: Record<string, { status: CheckStatus; durationMs: number }>;
  }> {
    const results: Record<string, { status: CheckStatus; durationMs: number }> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const started = performance.now();
        let timer: NodeJS.Timeout | undefined;
        try {
          const outcome = await Promise.race([
            Promise.resolve().then(check),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error('timeout')), this.timeoutMs);
            }),
          ]);
          results[name] = {
            status: outcome === 'degraded' ? 'degraded' : 'ok',
            durationMs: Math.round(performance.now() - started),
          };
        } catch {
          results[name] = { status: 'fail', durationMs: Math.round(performance.now() - started) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = !this.draining && Object.values(results).every((r) => r.status !== 'fail');
    const degraded = Object.values(results).some((r) => r.status === 'degraded');
    return { ready, degraded, checks: results };
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Readiness checks of this instance; capabilities add theirs with `readiness.register`. */
    readiness: Readiness;
  }
}

/** GET /health/live (the process answers) and GET /health/ready (its dependencies work). */
export const health = fp(
  function health(app: FastifyInstance): void {
    app.decorate('readiness', new Readiness());

    app.get(
      '/health/live',
      {
        // Probes come often and from few addresses (the load balancer): never rate-limited.
        config: { rateLimit: false },
        schema: {
          tags: ['health'],
          summary: 'Liveness: the process is up and its event loop answers.',
          response: {
            200: HealthLiveBody,
          },
        },
      },
      () => ({ status: 'ok' as const }),
    );

    app.get(
      '/health/ready',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['health'],
          summary: 'Readiness: every dependency answers; 503 otherwise, or while shutting down.',
          response: { 200: HealthReadyBody, 503: HealthReadyBody },
        },
      },
      async (_request, reply) => {
        const { ready, degraded, checks } = await app.readiness.run();
        const status = !ready ? 'unavailable' : degraded ? 'degraded' : 'ok';
        return reply.code(ready ? 200 : 503).send({ status, checks });
      },
    );
  },
  { name: 'bulwark-health' },
);
