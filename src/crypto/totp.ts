import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { sha256Hex } from './random.js';

/*
 * Time-based one-time passwords as every authenticator app reads them: HMAC-SHA-1, 6 digits,
 * 30-second steps. SHA-1 is what the apps support (Google Authenticator ignores any other
 * `algorithm`); as an HMAC keyed with a 160-bit secret it is not weakened by SHA-1's collisions.
 * @see https://www.rfc-editor.org/rfc/rfc6238
 */

/** Seconds per time step (RFC 6238 X). */
export const TOTP_PERIOD_SECONDS = 30;
/** Digits per code. */
export const TOTP_DIGITS = 6;
/** Secret length: 160 bits, the HMAC-SHA-1 output size that RFC 4226 section 4 recommends. */
const TOTP_SECRET_BYTES = 20;
/**
 * Steps accepted either side of now: one, so a code typed as it rolls over, or a phone clock
 * some seconds off, still works (RFC 6238 section 5.2 recommends at most one step).
 */
const TOTP_WINDOW = 1;

/** A fresh TOTP secret, base32 (RFC 4648), as authenticator apps take it. */
export function newTotpSecret(): string {
  // otpauth draws the bytes from node:crypto's CSPRNG.
  return new Secret({ size: TOTP_SECRET_BYTES }).base32;
}

/**
 * The `otpauth://totp/…` URI an authenticator app reads from a QR code.
 * @see https://github.com/google/google-authenticator/wiki/Key-Uri-Format
 */
export function totpUri(secret: string, issuer: string, account: string): string {
  return totp(secret, issuer, account).toString();
}

/**
 * The time step `code` belongs to, if it is the right code for `secret` within one step of
 * `nowMs`; null otherwise. The caller refuses a step not later than the last one accepted, so a
 * code works once (RFC 6238 section 5.2).
 */
export function matchTotp(secret: string, code: string, nowMs: number): number | null {
  if (!/^[0-9]{6}$/.test(code)) return null;
  const delta = TOTP.validate({
    token: code,
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: nowMs,
    window: TOTP_WINDOW,
  });
  return delta === null ? null : totpStep(nowMs) + delta;
}

/** The code for `secret` at `timeMs` (tests and tooling; the service only checks codes). */
export function totpCode(secret: string, timeMs: number): string {
  return totp(secret, 'bulwark', 'code').generate({ timestamp: timeMs });
}

/** The RFC 6238 time step T of a moment. */
export function totpStep(timeMs: number): number {
  return Math.floor(timeMs / 1000 / TOTP_PERIOD_SECONDS);
}

function totp(secret: string, issuer: string, label: string): TOTP {
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secret),
  });
}

/*
 * Recovery codes: single-use codes for when the authenticator is lost. Ten of them, ~59 random
 * bits each (12 characters of a 31-letter alphabet without 0/o, 1/l/i), in groups of four.
 *
 * 59 bits are too few for a bare fast hash: SHA-256 runs at ~10^10 a second on one GPU, so a
 * database copy gave up any one user's code in weeks, and some user's code in minutes when the
 * hashes, all unsalted, were searched together. They are stored instead as an HMAC under a key
 * derived from the authenticator's TOTP secret, which is itself stored encrypted: a copy of the
 * database without the master key gives nothing to search with, and a key re-encryption leaves
 * the secret, and so the codes, unchanged. A slow hash is not needed (and would cost a sign-in
 * ten times over): the key, not the work factor, is what stops the search.
 */

/** How many recovery codes a set holds. */
export const RECOVERY_CODE_COUNT = 10;
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const RECOVERY_CODE_CHARS = 12;
/** HKDF `info` of the recovery-code key: never the key of any other use of the TOTP secret. */
const RECOVERY_KEY_INFO = 'bulwark/v1/recovery-codes';

/** A fresh set of recovery codes, formatted `xxxx-xxxx-xxxx`. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    let code = '';
    // Rejection sampling keeps every letter equally likely (31 letters; bytes above 247 redrawn).
    while (code.length < RECOVERY_CODE_CHARS) {
      for (const byte of randomBytes(RECOVERY_CODE_CHARS)) {
        if (byte < 248 && code.length < RECOVERY_CODE_CHARS) {
          code += RECOVERY_ALPHABET[byte % RECOVERY_ALPHABET.length];
        }
      }
    }
    return code.match(/.{4}/g)!.join('-');
  });
}

/**
 * The code without separators or case, so `ABCD EFGH JKMN` and `abcd-efgh-jkmn` are the same
 * code; null for anything that cannot be one.
 */
function bareRecoveryCode(code: string): string | null {
  const bare = code.toLowerCase().replace(/[\s-]/g, '');
  if (bare.length !== RECOVERY_CODE_CHARS) return null;
  for (const char of bare) if (!RECOVERY_ALPHABET.includes(char)) return null;
  return bare;
}

/**
 * The stored form of a recovery code of `userId`, whose authenticator has `totpSecret`:
 * HMAC-SHA-256 (hex) of the bare code, under a key derived (HKDF-SHA-256, salt the user id) from
 * the secret. Null for anything that cannot be a code.
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export function recoveryCodeHash(code: string, totpSecret: string, userId: string): string | null {
  const bare = bareRecoveryCode(code);
  if (bare === null) return null;
  const key = Buffer.from(
    hkdfSync('sha256', Secret.fromBase32(totpSecret).bytes, userId, RECOVERY_KEY_INFO, 32),
  );
  try {
    return createHmac('sha256', key).update(bare).digest('hex');
  } finally {
    key.fill(0);
  }
}

/**
 * The form recovery codes were stored in before {@link recoveryCodeHash}: SHA-256 (hex) of the
 * bare code. Still accepted, so the codes users already hold keep working until used or replaced;
 * every code issued now is stored keyed.
 */
export function legacyRecoveryCodeHash(code: string): string | null {
  const bare = bareRecoveryCode(code);
  return bare === null ? null : sha256Hex(bare);
}
