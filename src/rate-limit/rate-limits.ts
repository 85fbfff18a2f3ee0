import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config/index.js';
import { AppError } from '../errors.js';
import type { SharedStore } from '../store/index.js';
import { policySpecs, type RateLimitPolicyName } from './policies.js';

/** The state of one counter after a request was counted. */
export interface RateLimitState {
  policy: RateLimitPolicyName;
  limit: number;
  remaining: number;
  /** Seconds until the window resets (rounded up). */
  resetSeconds: number;
}

/** A request over its limit. */
export class RateLimitExceeded extends Error {
  constructor(readonly state: RateLimitState) {
    super(`rate limit ${state.policy} exceeded`);
    this.name = 'RateLimitExceeded';
  }
}

/** Seconds a client waits when the store failed closed: short, so recovery is noticed soon. */
export const STORE_DOWN_RETRY_SECONDS = 5;

/**
 * The per-route policies, counted in the shared store. Throws RateLimitExceeded over the limit
 * and AppError service_unavailable when the store failed and redis.onOutage is failClosed.
 */
export class RateLimits {
  private readonly policies = new Map<string, { limit: number; counter: RateLimiterAbstract }>();

  constructor(store: SharedStore, config: Config['rateLimit']) {
    for (const [name, spec] of policySpecs(config)) {
      this.policies.set(name, {
        limit: spec.points,
        counter: store.counter({
          name: spec.counterName,
          points: spec.points,
          durationSeconds: spec.durationSeconds,
        }),
      });
    }
  }

  /** Counts one request of `key` against `policy`. Throws a TypeError for an undefined policy. */
  async consume(policy: RateLimitPolicyName, key: string): Promise<RateLimitState> {
    const entry = this.policies.get(policy);
    if (entry === undefined) throw new TypeError(`rate-limit policy "${policy}" is not defined`);
    try {
      return state(policy, entry.limit, await entry.counter.consume(key));
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new RateLimitExceeded(state(policy, entry.limit, error));
      }
      throw storeUnavailable(error);
    }
  }
}

function state(policy: RateLimitPolicyName, limit: number, res: RateLimiterRes): RateLimitState {
  return {
    policy,
    limit,
    remaining: Math.max(res.remainingPoints, 0),
    resetSeconds: Math.max(Math.ceil(res.msBeforeNext / 1000), 0),
  };
}

/** The answer when the shared store failed and the config says to fail closed. */
export function storeUnavailable(cause: unknown): AppError {
  return new AppError(
    'service_unavailable',
    'Rate limiting is temporarily unavailable, so this route is refused. Try again shortly.',
    { cause, headers: { 'retry-after': String(STORE_DOWN_RETRY_SECONDS) } },
  );
}
