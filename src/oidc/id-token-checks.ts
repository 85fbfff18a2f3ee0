import { createHash } from 'node:crypto';
import { timingSafeEqualString } from '../crypto/index.js';

/*
 * Checks of a verified ID token that openid-client leaves to its caller in the code flow.
 */

/** The hash of an access token for `at_hash`, by the ID token's JWS algorithm (OIDC Core 3.1.3.6). */
const AT_HASH_DIGEST = new Map<string, string>([
  ['RS256', 'sha256'],
  ['PS256', 'sha256'],
  ['ES256', 'sha256'],
  ['RS384', 'sha384'],
  ['PS384', 'sha384'],
  ['ES384', 'sha384'],
  ['RS512', 'sha512'],
  ['PS512', 'sha512'],
  ['ES512', 'sha512'],
  // Ed25519 hashes with SHA-512 internally; the OpenID Foundation's EdDSA guidance uses it here too.
  ['EdDSA', 'sha512'],
  ['Ed25519', 'sha512'],
]);

/** C0 and C1 control characters and DEL: never part of an account identifier. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * True for a `sub` that can be stored and matched: at most 255 bytes (OIDC Core 1.0 §2 allows no
 * more than 255 ASCII characters) and no control characters. A signed ID token from the
 * configured provider could still carry another: a NUL, say, which PostgreSQL's text type
 * refuses, so the sign-in would end in a 500 instead of a refusal.
 */
export function usableSubject(sub: unknown): sub is string {
  return (
    typeof sub === 'string' &&
    sub.length > 0 &&
    Buffer.byteLength(sub, 'utf8') <= 255 &&
    !CONTROL_CHARACTER.test(sub)
  );
}

/** True when `at_hash` is the left half of the access token's hash (OIDC Core 3.1.3.8). */
export function atHashMatches(idToken: string, accessToken: string, atHash: unknown): boolean {
  if (typeof atHash !== 'string') return false;
  let alg: unknown;
  try {
    // Already verified by openid-client; only the algorithm is read here.
    alg = (
      JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString('utf8')) as {
        alg?: unknown;
      }
    ).alg;
  } catch {
    return false;
  }
  const digest = typeof alg === 'string' ? AT_HASH_DIGEST.get(alg) : undefined;
  if (digest === undefined) return false;
  const hash = createHash(digest).update(accessToken, 'ascii').digest();
  return timingSafeEqualString(hash.subarray(0, hash.length / 2).toString('base64url'), atHash);
}
