import { AppError } from '../errors.js';
import { looksLatin, mixesScripts } from './scripts.js';

// C0/C1 control characters, DEL, and the bidi/zero-width controls used to spoof text.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
// Characters that render as nothing (Unicode Default_Ignorable_Code_Point: soft hyphen, word
// joiner, variation selectors, Hangul fillers, tag characters …) or only steer rendering (Cf):
// they let two different strings look identical, or carry hidden text (tags).
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
// The one invisible a display name may carry: an emoji presentation selector right after an
// emoji ("❤️" is U+2764 U+FE0F, as phone keyboards type it). It can hide nothing, and refusing it
// would refuse common emoji. Zero-width joiners stay refused with the other controls.
const EMOJI_PRESENTATION = /(?<=\p{Emoji})[\ufe0e\ufe0f]/gu;
// Pragmatic address check (RFC 5321 limits); deliverability is proven by verification, not regex.
// The local part: no whitespace, `@`, or RFC 5322 specials (`"(),:;<>[\]`), which only a quoted
// local part may hold: `"admin"@example.com` is the mailbox admin@example.com under another
// spelling, and `<script>…</script>@…` is no one's address.
const EMAIL =
  /^[^\s@"(),:;<>[\]\\]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const E164 = /^\+[1-9]\d{6,14}$/;

// A dot above on i or j (or dotless ı, ȷ and l) disappears into the letter's own dot: "admi\u0307n"
// (what lower-casing "ADMİN" gives) reads as "admin". Chrome's IDN spoof checker refuses the same.
const HIDDEN_DOT = /[\p{Soft_Dotted}\u0131\u0237l]\u0307/u;
// The same nonspacing mark twice on one letter draws over itself: "a\u0301\u0301" reads as "á"
// (ICU's spoof checker counts this as an invisible character). Checked on the NFD form.
const REPEATED_MARK = /(\p{Mn})\p{Mn}*\1/u;

// An unpaired UTF-16 surrogate (only reachable through a JSON \u escape) has no UTF-8 encoding:
// drivers would store it as ill-formed bytes or U+FFFD, merging distinct inputs.
const INVALID_UNICODE = 'must not contain invalid Unicode (an unpaired surrogate)';

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', 'The request does not match the expected schema.', {
    errors: [{ path, message }],
  });
}

/** The one canonical form of an email address (trimmed, Unicode NFC, lower-case) used for lookups. */
export function canonicalEmail(value: string): string {
  return value.trim().normalize('NFC').toLowerCase();
}

/**
 * {@link canonicalEmail}, refusing invalid Unicode, control and invisible characters, and
 * malformed addresses.
 */
export function normalizeEmail(value: string, path = '/body/email'): string {
  if (!value.isWellFormed()) throw invalid(path, INVALID_UNICODE);
  const email = canonicalEmail(value);
  if (CONTROL.test(email)) throw invalid(path, 'must be a valid email address');
  if (INVISIBLE.test(email)) throw invalid(path, 'must not contain invisible characters');
  if (!EMAIL.test(email)) throw invalid(path, 'must be a valid email address');
  // Look-alikes of another address: full-width letters, ligatures, circled or superscript forms
  // (NFKC folds them into plain letters), accents that cannot be seen, and letters or digits from
  // several scripts (Latin with Cyrillic, Greek or Devanagari digits; see mixesScripts). Such an
  // address reads like someone else's in every list an administrator sees.
  const local = email.slice(0, email.lastIndexOf('@'));
  if (local.normalize('NFKC') !== local) {
    throw invalid(
      path,
      'must not contain full-width, ligature or other compatibility forms of letters',
    );
  }
  // Decomposed: NFC has already folded the first of two identical accents into the letter.
  const marks = local.normalize('NFD');
  if (HIDDEN_DOT.test(marks) || REPEATED_MARK.test(marks)) {
    throw invalid(path, 'must not contain accents hidden in a letter or drawn over each other');
  }
  if (mixesScripts(local)) {
    throw invalid(
      path,
      'must not mix letters or digits of different scripts (such as Latin and Cyrillic)',
    );
  }
  if (looksLatin(local)) {
    throw invalid(path, 'must not be spelled only with Cyrillic or Greek letters that look Latin');
  }
  return email;
}

/**
 * Trimmed, NFC, inner whitespace collapsed; refuses invalid Unicode, control and invisible
 * characters (but an emoji's presentation selector), and empty names.
 */
export function normalizeName(value: string, path = '/body/name'): string {
  if (!value.isWellFormed()) throw invalid(path, INVALID_UNICODE);
  const nfc = value.normalize('NFC');
  // Checked before trimming and collapsing: `\s` covers tab, newline and U+FEFF, so a later check
  // would never see them and "Eve\nAdmin" would be silently rewritten instead of refused.
  if (CONTROL.test(nfc)) throw invalid(path, 'must not contain control characters');
  if (INVISIBLE.test(nfc.replace(EMOJI_PRESENTATION, '')))
    throw invalid(path, 'must not contain invisible characters');
  const name = nfc.trim().replace(/\s+/g, ' ');
  if (name.length === 0) throw invalid(path, 'must not be empty');
  return name;
}

/** E.164 (`+` and 7–15 digits) after removing spaces, dots, dashes and parentheses. */
export function normalizePhone(value: string, path = '/body/phone'): string {
  // The pattern below is ASCII-only, so invalid Unicode and invisible characters fail it too.
  const phone = value.normalize('NFC').replace(/[\s.()-]/g, '');
  if (!E164.test(phone))
    throw invalid(path, 'must be an international number such as +441632960961');
  return phone;
}
