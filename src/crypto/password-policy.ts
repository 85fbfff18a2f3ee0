import { PasswordEstimator } from './password-estimator.js';
import { normalizePassword } from './password-input.js';

/** Length limits and personal data a password is checked against. */
export interface PasswordPolicyOptions {
  /** Fewest code points after NFKC. Default 12; NIST's floor is 8, OWASP advises more. */
  minLength?: number;
  /** Most code points after NFKC. Default 128; NIST asks to allow at least 64. */
  maxLength?: number;
  /** The user's own data: email, email local part, name. A password must not contain them. */
  userInputs?: string[];
}

/** Verdict of checkPassword; `reasons` are English sentence fragments for the API response. */
export interface PasswordCheck {
  ok: boolean;
  reasons: string[];
}

export const DEFAULT_MIN_PASSWORD_LENGTH = 12;
export const DEFAULT_MAX_PASSWORD_LENGTH = 128;

/** zxcvbn score (0-4) a password needs; 3 is "safely unguessable: moderate protection". */
const MIN_SCORE = 3;

/**
 * zxcvbn's matching grows quadratically with length, and its l33t matcher repeats it for every
 * de-l33ted variant of the password (up to 100 by default): a 128-character password took over
 * 300 ms with the defaults. Only the first 100 code points are analysed,
 * which can only err towards rejecting (the tail's strength is not counted), and at most 4
 * variants are tried, which still catches "p@ssw0rd"-style passwords. Worst case measured:
 * ~45 ms on an idle 2-core VM (in the estimator's worker, off the event loop).
 */
const ANALYSED_CODE_POINTS = 100;
const L33T_MAX_SUBSTITUTIONS = 4;

/**
 * Name parts shorter than this are not matched on their own: "Li" or "Bo" inside a password is
 * more likely chance than a reference to the user.
 */
const MIN_PERSONAL_TOKEN = 4;

/** Control characters (C0, DEL, C1). */
const CONTROL = /\p{Cc}/u;

/**
 * zxcvbn runs in a worker thread, started at the first password check and stopped when idle: its
 * modules and dictionaries take a few hundred ms and ~40 MB, and only registration and password
 * changes need them (see PasswordEstimator).
 */
const estimator = new PasswordEstimator({ l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS });

/** The user's data as lower-case strings to look for: each input, an email's local part, name words. */
function personalTokens(userInputs: readonly string[]): string[] {
  const tokens = new Set<string>();
  for (const input of userInputs) {
    const value = input.normalize('NFKC').toLowerCase().trim();
    if (value.length === 0) continue;
    const at = value.lastIndexOf('@');
    // The domain of an email is not personal ("gmail"), so only the local part is split.
    const personal = at > 0 ? value.slice(0, at) : value;
    for (const candidate of [value, personal, personal.replace(/[\s._+-]+/gu, '')]) {
      if ([...candidate].length >= MIN_PERSONAL_TOKEN) tokens.add(candidate);
    }
    for (const word of personal.split(/[^\p{L}\p{N}]+/u)) {
      if ([...word].length >= MIN_PERSONAL_TOKEN) tokens.add(word);
    }
  }
  return [...tokens];
}

/**
 * Checks a new password against NIST SP 800-63B: a length range counted in code points after
 * NFKC, no composition rules (no "one digit, one symbol"), a rejection of guessable passwords by
 * a zxcvbn estimate over common-password, word and name lists, and of passwords containing the
 * user's own email or name. All reasons are reported together so the user fixes them at once.
 * @throws EstimatorUnavailableError when the strength estimate cannot be made (too many checks
 *   waiting, or the estimator failed): the password is then neither accepted nor refused
 * @see https://pages.nist.gov/800-63-3/sp800-63b.html#sec5 (SP 800-63B 5.1.1.2)
 */
export async function checkPassword(
  password: string,
  opts: PasswordPolicyOptions = {},
): Promise<PasswordCheck> {
  const minLength = opts.minLength ?? DEFAULT_MIN_PASSWORD_LENGTH;
  const maxLength = opts.maxLength ?? DEFAULT_MAX_PASSWORD_LENGTH;
  const normalized = normalizePassword(password);
  if (normalized === undefined) {
    // Refused before normalising so a huge input costs nothing (see MAX_PASSWORD_BYTES).
    return { ok: false, reasons: [`must be at most ${maxLength} characters`] };
  }

  const reasons: string[] = [];
  const codePoints = [...normalized];
  if (codePoints.length < minLength) reasons.push(`must be at least ${minLength} characters`);
  if (codePoints.length > maxLength) reasons.push(`must be at most ${maxLength} characters`);
  if (CONTROL.test(normalized)) reasons.push('must not contain control characters');
  // An unpaired surrogate cannot be encoded as UTF-8.
  if (!normalized.isWellFormed()) reasons.push('contains invalid Unicode');
  if (codePoints.length > 0 && codePoints.every((c) => c === codePoints[0])) {
    reasons.push('must not be a single repeated character');
  }
  // A wrong length or a control character is enough; strength is only worth estimating after.
  if (reasons.length > 0) return { ok: false, reasons };

  const lower = normalized.toLowerCase();
  const tokens = personalTokens(opts.userInputs ?? []);
  const personal = tokens.some((token) => lower.includes(token));
  if (personal) reasons.push('contains your email address or name');

  const analysed = codePoints.slice(0, ANALYSED_CODE_POINTS).join('');
  const { score, warning, userInputsWarning } = await estimator.estimate(analysed, tokens);
  if (score < MIN_SCORE) {
    // zxcvbn's own personal-data warning would repeat the reason given above.
    if (!(personal && warning === userInputsWarning)) {
      reasons.push(`is too easy to guess: ${sentenceFragment(warning)}`);
    }
  }
  return { ok: reasons.length === 0, reasons };
}

/** zxcvbn's warning as the tail of "is too easy to guess: …" (no capital, no full stop). */
function sentenceFragment(warning: string | null): string {
  if (!warning) return 'add more uncommon words';
  const text = warning.replace(/\.$/u, '');
  return text.charAt(0).toLowerCase() + text.slice(1);
}
