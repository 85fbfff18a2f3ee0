import {
  legacyRecoveryCodeHash,
  matchTotp,
  recoveryCodeHash,
  type FieldCipher,
} from '../crypto/index.js';
import { ENCRYPTED_COLUMNS, fieldContext, type MfaRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';

export interface SecondFactorCheckDeps {
  repo: MfaRepository;
  /** Decrypts TOTP secrets (purpose of ENCRYPTED_COLUMNS.totpSecret). */
  cipher: FieldCipher;
  events: SecurityEvents;
  now: () => number;
}

/** Why a second factor was refused (the reason of its `login.failed` event). */
export type SecondFactorRefusal = 'wrong_mfa_code' | 'mfa_code_replayed';

/** The outcome of checking a sign-in's second factor. */
export type SecondFactorResult = { ok: true } | { ok: false; reason: SecondFactorRefusal };

/** A 6-digit code is a TOTP; anything else is tried as a recovery code. */
const TOTP_PATTERN = /^[0-9]{6}$/;

/** The field context of a user's encrypted TOTP secret (AAD binding it to its row). */
export function totpSecretContext(userId: string) {
  return fieldContext(ENCRYPTED_COLUMNS.totpSecret, userId);
}

/** The answer to a right first factor of an account with MFA on, without a code. */
export function mfaRequired(): AppError {
  return new AppError(
    'mfa_required',
    'This account has MFA on: send the request again with `mfaCode`, a code from the authenticator app or a recovery code.',
  );
}

/** The refusal of a wrong, replayed or used-up code. */
export function invalidMfaCode(): AppError {
  return new AppError('invalid_otp', 'The authentication code is incorrect or already used.');
}

/**
 * The check of a code against a user's confirmed factor: a TOTP code (RFC 6238, once per time
 * step) or an unused single-use recovery code. Uncounted: MfaService.verifyCode counts it first.
 */
export class SecondFactorCheck {
  constructor(private readonly deps: SecondFactorCheckDeps) {}

  /**
   * A TOTP code (once per time step) or an unused recovery code (used up by this call). Emits
   * no event but `mfa.recovery_code_used`: the caller records the outcome.
   */
  async check(userId: string, mfaCode: string, context: EventContext): Promise<SecondFactorResult> {
    const factor = await this.deps.repo.findFactor(userId);
    if (!factor || factor.confirmed_at === null) return { ok: false, reason: 'wrong_mfa_code' };
    const secret = this.deps.cipher.decrypt(factor.secret_enc, totpSecretContext(userId));
    if (TOTP_PATTERN.test(mfaCode)) {
      const step = matchTotp(secret, mfaCode, this.deps.now());
      if (step === null) return { ok: false, reason: 'wrong_mfa_code' };
      // A code seen once (by an onlooker, a phishing proxy) is refused the second time.
      return (await this.deps.repo.useStep(userId, factor.confirmed_at, step))
        ? { ok: true }
        : { ok: false, reason: 'mfa_code_replayed' };
    }
    const hash = recoveryCodeHash(mfaCode, secret, userId);
    if (hash === null) return { ok: false, reason: 'wrong_mfa_code' };
    const now = this.deps.now();
    // Codes stored before they were keyed (a bare SHA-256) work until used or replaced.
    const used =
      (await this.deps.repo.useRecoveryCode(userId, hash, now)) ||
      (await this.deps.repo.useRecoveryCode(userId, legacyRecoveryCodeHash(mfaCode)!, now));
    if (!used) return { ok: false, reason: 'wrong_mfa_code' };
    this.deps.events.emit({
      ...context,
      type: 'mfa.recovery_code_used',
      outcome: 'success',
      target: { type: 'user', id: userId },
      details: { remaining: await this.deps.repo.countUnusedRecoveryCodes(userId) },
    });
    return { ok: true };
  }
}
