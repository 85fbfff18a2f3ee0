import type { FastifyRequest } from 'fastify';
import type { AccessClaims, AccessTokens } from '../tokens/access-token.js';
import { invalidToken } from '../tokens/access-token.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

// One verification per request, shared by the rate limiter (which keys authenticated callers by
// user before the body is read) and `authenticate`. Weakly keyed: gone with the request.
const verified = new WeakMap<FastifyRequest, Promise<AccessClaims>>();

/** True when the request carries an Authorization header (of any scheme). */
export function hasAuthorization(request: FastifyRequest): boolean {
  return request.headers.authorization !== undefined;
}

/**
 * The verified claims of the request's bearer access token (signature, algorithm, iss, aud, exp,
 * typ; not the session), computed once per request. Rejects with invalid_token.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export function verifiedBearer(
  request: FastifyRequest,
  tokens: AccessTokens,
): Promise<AccessClaims> {
  let pending = verified.get(request);
  if (pending === undefined) {
    const match = BEARER.exec(request.headers.authorization ?? '');
    pending = match ? tokens.verify(match[1]!) : Promise.reject(invalidToken('not a bearer token'));
    // Callers that only peek (the rate limiter) must not leave an unhandled rejection behind.
    pending.catch(() => undefined);
    verified.set(request, pending);
  }
  return pending;
}
