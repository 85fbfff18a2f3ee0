import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Fewest random bytes a token may have. 128 bits keeps a token unguessable even against an
 * attacker who can try billions of values, and is twice OWASP's 64-bit floor for session ids.
 */
const MIN_TOKEN_BYTES = 16;
const MAX_TOKEN_BYTES = 1024;

/**
 * A random token from the CSPRNG, base64url without padding (safe in URLs, headers and cookies).
 * @see https://www.rfc-editor.org/rfc/rfc4648#section-5
 */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_TOKEN_BYTES || bytes > MAX_TOKEN_BYTES) {
    throw new RangeError(
      `randomToken: bytes must be an integer from ${MIN_TOKEN_BYTES} to ${MAX_TOKEN_BYTES}`,
    );
  }
  return randomBytes(bytes).toString('base64url');
}

/**
 * Lower-case hex SHA-256 of a string's UTF-8 bytes. Fit for looking up high-entropy secrets
 * (refresh tokens, API keys) by hash; never for passwords, which need PasswordHasher.
 * @see https://www.rfc-editor.org/rfc/rfc6234
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * Compares two secrets in time that depends on neither their content nor their lengths.
 * Both sides are hashed first: `timingSafeEqual` needs equal lengths, and returning early on a
 * length mismatch would tell an attacker the secret's length. Equal digests imply equal inputs
 * by SHA-256's collision resistance.
 */
export function timingSafeEqualString(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}
