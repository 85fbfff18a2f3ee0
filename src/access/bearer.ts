import type { FastifyRequest } from 'fastify';
import type { AccessClaims, AccessTokens } from '../tokens/access-token.js';
import { invalidToken } from '../tokens/access-token.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;
const SCHEME = 'Bearer ';

// One verification per request, shared by the rate limiter (which keys authenticated callers by
// user before the body is read) and `authenticate`. A property of the request (gone with it):
// cheaper than a WeakMap entry, which the garbage collector has to trace as an ephemeron.
const kVerified = Symbol('bulwark.verifiedBearer');

declare module 'fastify' {
  interface FastifyRequest {
    [kVerified]?: Promise<AccessClaims>;
  }
}

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
  let pending = request[kVerified];
  if (pending === undefined) {
    pending = verify(request.headers.authorization ?? '', tokens);
    // Callers that only peek (the rate limiter) must not leave an unhandled rejection behind.
    pending.catch(() => undefined);
    request[kVerified] = pending;
  }
  return pending;
}

function verify(header: string, tokens: AccessTokens): Promise<AccessClaims> {
  // A token in the verified cache passed a full verification, so it is a compact JWS
  // ([A-Za-z0-9_-] and dots): "Bearer <it>" is exactly a header the pattern below accepts. Only a
  // header that is not a cached token needs the pattern.
  if (header.startsWith(SCHEME)) {
    try {
      const hit = tokens.verifyCached(header.slice(SCHEME.length));
      if (hit !== undefined) return Promise.resolve(hit);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
  const match = BEARER.exec(header);
  return match ? tokens.verify(match[1]!) : Promise.reject(invalidToken('not a bearer token'));
}
