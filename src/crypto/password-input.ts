/**
 * Longest password accepted anywhere, in UTF-8 bytes. Far above the policy's 128 characters
 * (at most 512 bytes), it only exists so a multi-megabyte "password" is refused before it is
 * normalised or hashed: both cost time linear in the input, on a path anyone can reach.
 */
export const MAX_PASSWORD_BYTES = 1024;

/**
 * Puts a password into the one form that is hashed and checked: Unicode NFKC. The same
 * password typed on different keyboards or platforms can arrive as different code points
 * (a precomposed "é" or "e" plus a combining accent, full-width digits from an IME, the "ﬁ"
 * ligature); NFKC maps them to one sequence so the user can still log in.
 * Returns `undefined` when the password is longer than MAX_PASSWORD_BYTES, before or after
 * normalisation (NFKC can expand a code point to up to 18).
 * @see https://pages.nist.gov/800-63-3/sp800-63b.html#sec5 (SP 800-63B 5.1.1.2)
 */
export function normalizePassword(password: string): string | undefined {
  // Each UTF-16 code unit is at least one UTF-8 byte: a cheap bound before counting bytes.
  if (password.length > MAX_PASSWORD_BYTES) return undefined;
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return undefined;
  const normalized = password.normalize('NFKC');
  if (Buffer.byteLength(normalized, 'utf8') > MAX_PASSWORD_BYTES) return undefined;
  return normalized;
}
