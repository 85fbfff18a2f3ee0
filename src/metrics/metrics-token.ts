import { createHash, timingSafeEqual } from 'node:crypto';

// The scheme is case-insensitive (RFC 9110 §11.1), as on the API (src/access/bearer.ts).
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([\x21-\x7e]{1,1024})$/;

/**
 * True when an Authorization header carries exactly the metrics token. Both sides are hashed
 * first so the comparison takes the same time whatever the length or content of the guess.
 */
export function metricsTokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const match = BEARER.exec(header);
  const given = createHash('sha256')
    .update(match?.[1] ?? '')
    .digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected) && match !== null;
}
