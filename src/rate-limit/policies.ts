import type { Config } from '../config/index.js';

/**
 * The rate-limit policies a route can declare in its `config.rateLimit`: the built-in `general`
 * and `auth`, or the name of one of your own in `rateLimit.policies`. (Any string type-checks; a
 * name the config does not define is refused when the route is registered.)
 */
export type RateLimitPolicyName = 'general' | 'auth' | (string & Record<never, never>);

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * An extra policy on top of the general one: `'auth'` (the stricter limit of Bulwark's own
     * register/login/refresh routes) or one of `rateLimit.policies`; or `false` to exempt the
     * route (health probes). Unset: the general limit only.
     */
    rateLimit?: RateLimitPolicyName | false;
  }
}

/** Points per window of one policy, and the name its counters are stored under. */
export interface PolicySpec {
  points: number;
  durationSeconds: number;
  /**
   * Name of its counters in the shared store. Your own policies live under `policy:<name>`, so
   * none can share counters with a built-in one (the login throttle's included).
   */
  counterName: string;
}

/** Every policy from config: the built-in ones and `rateLimit.policies`. */
export function policySpecs(config: Config['rateLimit']): Map<string, PolicySpec> {
  const specs = new Map<string, PolicySpec>([
    ['general', { ...config.general, counterName: 'general' }],
    ['auth', { ...config.auth, counterName: 'auth' }],
  ]);
  for (const [name, spec] of Object.entries(config.policies)) {
    // The config rules refuse the built-in names; never let one replace a built-in policy.
    if (specs.has(name)) continue;
    specs.set(name, {
      points: spec.points,
      durationSeconds: spec.durationSeconds,
      counterName: `policy:${name}`,
    });
  }
  return specs;
}
