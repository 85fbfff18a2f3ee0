import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { AccessClaims, AccessTokens } from '../tokens/access-token.js';
import { invalidToken } from '../tokens/access-token.js';

// The scheme is case-insensitive (RFC 9110 §11.1), spelled out as classes rather than with the
// `i` flag so that no case folding can stretch the token's character set; then exactly one space
// and one b64token (RFC 6750 §2.1).
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9._~+/-]+=*)$/;
// The spelling nearly every client sends: the only one the verified-cache fast path takes.
const SCHEME = 'Bearer ';
// A header whose scheme is Bearer (however spelled), well-formed or not: "Bearer", "bearer  x",
// " Bearer x". Anything else (Basic, Digest, a bare token) carries no bearer credentials.
const BEARER_SCHEME = /^[\t ]*[Bb][Ee][Aa][Rr][Ee][Rr](?![!#$%&'*+.^_`|~0-9A-Za-z-])/;

// One verification per request, shared by the rate limiter (which keys authenticated callers by
// user before the body is read) and `authenticate`. A property of the request (gone with it):
// cheaper than a WeakMap entry, which the garbage collector has to trace as an ephemeron.
const kVerified = Symbol('bulwark.verifiedBearer');

declare module 'fastify' {
  interface FastifyRequest {
    [kVerified]?: Promise<AccessClaims>;
  }
}

/**
 * 401 authentication_required with a bare `Bearer` challenge: the request carried no bearer
 * credentials (no Authorization header, or one of another scheme). `reason`, if given, is for
 * logs and events only.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function authenticationRequired(reason?: string): AppError {
  return new AppError(
    'authentication_required',
    'Send an access token as Authorization: Bearer <token>.',
    {
      headers: { 'www-authenticate': 'Bearer realm="bulwark"' },
      ...(reason === undefined ? {} : { cause: new Error(reason) }),
    },
  );
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
  // header that is not a cached token needs the pattern. Other spellings of the scheme take the
  // pattern, then tokens.verify, which consults the same cache.
  if (header.startsWith(SCHEME)) {
    try {
      const hit = tokens.verifyCached(header.slice(SCHEME.length));
      if (hit !== undefined) return Promise.resolve(hit);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
  const match = BEARER.exec(header);
  if (match) return tokens.verify(match[1]!);
  return Promise.reject(
    BEARER_SCHEME.test(header)
      ? invalidToken('not a bearer token')
      : authenticationRequired('not a bearer token'),
  );
}
