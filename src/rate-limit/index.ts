import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { eventContext, kAuthenticates } from '../access/authenticate.js';
import { hasAuthorization, verifiedBearer } from '../access/bearer.js';
import { AppError } from '../errors.js';
import type { SecurityEvents } from '../security-events.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { SessionState } from '../tokens/session-state.js';
import { clientKey } from './client-key.js';
import { RateLimitExceeded, type RateLimits, type RateLimitState } from './rate-limits.js';

export { clientKey } from './client-key.js';
export { policySpecs, type PolicySpec, type RateLimitPolicyName } from './policies.js';
export { RateLimits, RateLimitExceeded, storeUnavailable } from './rate-limits.js';

/**
 * What the rate-limiting plugin needs: the policies' counters, the token verifier and the event
 * sink.
 */
export interface RateLimitingOptions {
  limits: RateLimits;
  tokens: AccessTokens;
  events: SecurityEvents;
  /**
   * Whether a token's session is still active (`services.sessionState`): the token of an ended
   * session counts against the client address, not its user. Without it such a token keeps
   * spending its user's budget until it expires.
   */
  sessions?: Pick<SessionState, 'knownState' | 'isActive'>;
}

/**
 * The standard header triple, in delta seconds. We send the widely deployed
 * `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` fields of the IETF httpapi draft
 * (draft-ietf-httpapi-ratelimit-headers up to -06) rather than the later combined `RateLimit`
 * field, because clients and gateways read the triple today.
 */
export function rateLimitHeaders(
  state: Pick<RateLimitState, 'limit' | 'remaining' | 'resetSeconds'>,
): Record<string, string> {
  return {
    'ratelimit-limit': String(state.limit),
    'ratelimit-remaining': String(state.remaining),
    'ratelimit-reset': String(state.resetSeconds),
  };
}

/**
 * Who a request counts against: on a route that authenticates, the user when it carries a valid
 * access token of an active session; otherwise the client address (IPv6 by /64). On a route that
 * does not authenticate (register, login, refresh, an unknown path) the token proves nothing the
 * route needs, and keying by it let anyone with accounts escape the per-client limits: each
 * account minted was a fresh budget.
 *
 * Why key users here, before the body is read, rather than after `authenticate`: the pipeline
 * limits before doing any work for the request (SPEC "Shape of the code"), and verifying the
 * token's signature is cheap and needs no database; the claims are memoised per request, so
 * `authenticate` does not verify twice. The session is checked too, as `authenticate` checks it
 * (from memory, or one database read per session that is then remembered): the token of a
 * logout, a password change or a revocation still verifies until it expires, and whoever kept it
 * must not spend its user's budget and lock the owner's new sessions out with 429s. It counts
 * against the sender's address instead, like an invalid token.
 */
async function callerKey(
  request: FastifyRequest,
  tokens: AccessTokens,
  sessions: RateLimitingOptions['sessions'],
): Promise<{ key: string; userId: string | null }> {
  if (request.routeOptions.config?.[kAuthenticates] === true && hasAuthorization(request)) {
    try {
      const claims = await verifiedBearer(request, tokens);
      const active =
        sessions === undefined ||
        (sessions.knownState(claims.sid) ?? (await sessions.isActive(claims.sid)));
      if (active) return { key: `user:${claims.sub}`, userId: claims.sub };
    } catch {
      // Refused by authenticate on routes that need it; here it is just anonymous (a database
      // that cannot say whether the session is active included: authenticate answers for it).
    }
  }
  return { key: clientKey(request.ip), userId: null };
}

/**
 * Rate limiting, step 5 of the pipeline (after version routing, before the body is read): the
 * general policy on every route, plus the route's stricter policy (`config: { rateLimit: 'auth' }`).
 * Answers 429 rate_limited with Retry-After, and sends the RateLimit-* headers of the tightest
 * policy on every limited response.
 */
export const rateLimiting = fp(
  function rateLimiting(app: FastifyInstance, opts: RateLimitingOptions): void {
    app.addHook('onRequest', async (request, reply) => {
      const policy = request.routeOptions.config?.rateLimit;
      if (policy === false) return;
      const { key, userId } = await callerKey(request, opts.tokens, opts.sessions);
      const states: RateLimitState[] = [];
      try {
        states.push(await opts.limits.consume('general', key));
        if (policy !== undefined && policy !== 'general') {
          states.push(await opts.limits.consume(policy, key));
        }
      } catch (error) {
        if (!(error instanceof RateLimitExceeded)) throw error;
        const retryAfter = Math.max(error.state.resetSeconds, 1);
        opts.events.emit({
          ...eventContext(request),
          type: 'rate_limit.exceeded',
          outcome: 'denied',
          actorId: userId,
          details: {
            policy: error.state.policy,
            scope: userId === null ? 'client' : 'user',
            route: request.routeOptions.url ?? null,
            retryAfterSeconds: retryAfter,
          },
        });
        throw new AppError('rate_limited', `Too many requests. Retry in ${retryAfter} s.`, {
          headers: { ...rateLimitHeaders(error.state), 'retry-after': String(retryAfter) },
        });
      }
      const tightest = states.reduce((a, b) => (b.remaining < a.remaining ? b : a));
      reply.headers(rateLimitHeaders(tightest));
    });
  },
  { name: 'bulwark-rate-limiting' },
);
