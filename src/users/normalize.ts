import { AppError } from '../errors.js';

// C0/C1 control characters, DEL, and the bidi/zero-width controls used to spoof text.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
// Pragmatic address check (RFC 5321 limits); deliverability is proven by verification, not regex.
const EMAIL =
  /^[^\s@]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const E164 = /^\+[1-9]\d{6,14}$/;

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', 'The request does not match the expected schema.', {
    errors: [{ path, message }],
  });
}

/** The one canonical form of an email address (trimmed, Unicode NFC, lower-case) used for lookups. */
export function canonicalEmail(value: string): string {
  return value.trim().normalize('NFC').toLowerCase();
}

/** {@link canonicalEmail}, refusing control characters and malformed addresses. */
export function normalizeEmail(value: string, path = '/body/email'): string {
  const email = canonicalEmail(value);
  if (CONTROL.test(email) || !EMAIL.test(email))
    throw invalid(path, 'must be a valid email address');
  return email;
}

/** Trimmed, NFC, inner whitespace collapsed; refuses control characters and empty names. */
export function normalizeName(value: string, path = '/body/name'): string {
  const nfc = value.normalize('NFC');
  // Checked before trimming and collapsing: `\s` covers tab, newline and U+FEFF, so a later check
  // would never see them and "Eve\nAdmin" would be silently rewritten instead of refused.
  if (CONTROL.test(nfc)) throw invalid(path, 'must not contain control characters');
  const name = nfc.trim().replace(/\s+/g, ' ');
  if (name.length === 0) throw invalid(path, 'must not be empty');
  return name;
}

/** E.164 (`+` and 7–15 digits) after removing spaces, dots, dashes and parentheses. */
export function normalizePhone(value: string, path = '/body/phone'): string {
  const phone = value.normalize('NFC').replace(/[\s.()-]/g, '');
  if (!E164.test(phone))
    throw invalid(path, 'must be an international number such as +441632960961');
  return phone;
}
