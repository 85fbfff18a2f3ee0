import type { Config } from '../config/index.js';

/** The named rate-limit policies a route can declare in its `config.rateLimit`. */
export type RateLimitPolicyName = 'general' | 'auth';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * An extra, stricter policy on top of the general one (`'auth'`), or `false` to exempt the
     * route (health probes). Unset: the general limit only.
     */
    rateLimit?: RateLimitPolicyName | false;
  }
}

/** Points per window of each policy, from config. */
export function policySpecs(
  config: Config['rateLimit'],
): Record<RateLimitPolicyName, { points: number; durationSeconds: number }> {
  return {
    general: { points: config.general.points, durationSeconds: config.general.durationSeconds },
    auth: { points: config.auth.points, durationSeconds: config.auth.durationSeconds },
  };
}
