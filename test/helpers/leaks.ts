import { expect } from 'vitest';

/**
 * What must never reach a client in any response: stacks, file paths, library or engine
 * messages, stored-row internals (a password hash by its PHC or bcrypt prefix, its column, the
 * field-cipher envelope) and private key material (PEM, or a JWK's private `d` member).
 */
export const LEAKS: readonly RegExp[] = [
  // A stack frame (`at fn (/src/x.ts:1:2)`, `at node:internal/…:1:2`), not prose such as the
  // tools' "Expires at 2026-01-01T00:00:00.000Z (in 14 min)".
  /\bat [^\n"]*?\(?(?:file:\/\/|node:|\/)[^\s)"]*:\d+:\d+/,
  /node_modules/,
  /\/work\//,
  /SyntaxError|TypeError|RangeError/,
  /FST_ERR/,
  // The library's name as a word: random values (tokens, state, codes) hold "ajv" inside them
  // about once in a hundred long ones, which made this check fail at random.
  /\bajv\b/i,
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

/**
 * Numbered secrets that all carry `marker` (`SecretFuzz00001…`), for values no pattern can know
 * (an HMAC secret, a client secret, a password): a response or a log line that shows one, or a
 * piece of one long enough to hold the marker, is found by a plain search for the marker. The
 * marker uses base64url characters only, so it also fits a JWK member or a URL.
 */
export function secretMarker(marker: string): (rest?: string) => string {
  if (!/^[\w-]+$/.test(marker)) throw new Error('a marker is base64url text');
  let count = 0;
  return (rest = '') => `${marker}${String(++count).padStart(5, '0')}${rest}`;
}

/**
 * `text` with the values that machines fill with random hex and digits masked: UUIDs, SHA-256
 * digests (hex) and millisecond timestamps (`"time":…`, as audit rows store them). A secret made
 * of a few digits (a 6-digit TOTP code, the last digits of a phone number) turns up inside those
 * by chance: a TOTP code in the audit rows of test/audit/security-events.test.ts about once in
 * 3 000 runs. Search the masked text for such a secret; what is masked cannot carry one (its
 * format is fixed).
 */
export function withoutRandomDigits(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/g, '<sha256>')
    .replace(/"time":\d+/g, '"time":0');
}
