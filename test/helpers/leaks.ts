import { expect } from 'vitest';

/**
 * What must never reach a client in any response: stacks, file paths, library or engine
 * messages, stored-row internals (a password hash by its PHC or bcrypt prefix, its column, the
 * field-cipher envelope) and private key material (PEM, or a JWK's private `d` member).
 */
export const LEAKS: readonly RegExp[] = [
  /\bat \S+ \(/,
  /node_modules/,
  /\/work\//,
  /SyntaxError|TypeError|RangeError/,
  /FST_ERR/,
  /ajv/i,
  /SQLITE|postgres/i,
  /\$argon2/,
  /\$2[aby]\$/,
  /password_hash/,
  /phone_enc|private_key_enc/,
  /\bbwf1\./,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /"d"\s*:\s*"[\w-]{20,}"/,
];

/**
 * Credentials the service hands out on purpose (a login or refresh answer carries a refresh
 * token), so they are checked only where none belongs, e.g. in an error.
 */
export const CREDENTIAL_SHAPES: readonly RegExp[] = [/\bbwr_[\w-]{43}\b/];

/**
 * Asserts that a response body shows none of {@link LEAKS}; with `credentials`, none of
 * {@link CREDENTIAL_SHAPES} either.
 */
export function expectNoLeak(body: string, options: { credentials?: boolean } = {}): void {
  const patterns = options.credentials ? [...LEAKS, ...CREDENTIAL_SHAPES] : LEAKS;
  for (const pattern of patterns) expect(body, String(pattern)).not.toMatch(pattern);
}
