import type { AuthContext } from '../access/authenticate.js';
import type { Permissions } from '../access/permissions.js';
import {
  matchTotp,
  newRecoveryCodes,
  newTotpSecret,
  recoveryCodeHash,
  TOTP_DIGITS,
  TOTP_PERIOD_SECONDS,
  totpUri,
  type FieldCipher,
  type PasswordHasher,
} from '../crypto/index.js';
import {
  isUniqueViolation,
  type MfaRepository,
  type UserRow,
  type UsersRepository,
} from '../db/index.js';
import { AppError } from '../errors.js';
import type {
  EventContext,
  SecurityEvent,
  SecurityEvents,
  SecurityEventType,
} from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import type { Sessions } from '../tokens/sessions.js';
import type { LoginAttempt, LoginThrottle } from './login-throttle.js';
import type { AccountEmailService } from './account-email-service.js';
import { MfaReset } from './mfa-reset.js';
import {
  invalidMfaCode,
  SecondFactorCheck,
  totpSecretContext,
  type SecondFactorResult,
} from './second-factor-check.js';

export interface MfaServiceDeps {
  repo: MfaRepository;
  users: UsersRepository;
  hasher: PasswordHasher;
  /** Encrypts TOTP secrets at rest (purpose of ENCRYPTED_COLUMNS.totpSecret). */
  cipher: FieldCipher;
  events: SecurityEvents;
  /** Ends other sessions when MFA is turned on, and every session on an administrator's reset. */
  sessions: Pick<Sessions, 'endAll'>;
  /** The same throttle as logins: the password and code checks here are guesses like a login's. */
  throttle: Pick<LoginThrottle, 'begin' | 'beginSecondFactor'>;
  /** Shown by authenticator apps beside the account: the host of tokens.issuer, or the issuer. */
  issuer: string;
  /** An administrator resets only the MFA of users whose role's permissions it holds all of. */
  permissions?: Pick<Permissions, 'covers'>;
  /** Tells owners by e-mail when how their account signs in changes; unset without e-mail. */
  notices?: Pick<AccountEmailService, 'notifySecurityChange'> | undefined;
  now?: () => number;
}

/** What an authenticator app needs to enrol (shown once; the secret is stored encrypted). */
export interface TotpSetup {
  secret: string;
  otpauthUri: string;
  algorithm: 'SHA1';
  digits: number;
  period: number;
}

/** How long an enrolment waits for its first code before it must start again. */
const SETUP_TTL_MS = 10 * 60 * 1000;

/**
 * TOTP multi-factor authentication (RFC 6238) with single-use recovery codes. Turning it on
 * or off, and new recovery codes, take the current password (throttled like a login), so a
 * stolen access token cannot swap the authenticator or lock the owner out; turning it off and new
 * recovery codes take a current code as well.
 */
export class MfaService {
  private readonly now: () => number;
  private readonly check: SecondFactorCheck;
  private readonly resets: MfaReset;

  constructor(private readonly deps: MfaServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.check = new SecondFactorCheck({
      repo: deps.repo,
      cipher: deps.cipher,
      events: deps.events,
      now: this.now,
    });
    this.resets = new MfaReset({
      repo: deps.repo,
      users: deps.users,
      events: deps.events,
      sessions: deps.sessions,
      permissions: deps.permissions,
      notices: deps.notices,
      now: this.now,
    });
  }

  /** Whether MFA is on, and how many recovery codes are left. */
  async status(auth: AuthContext): Promise<{ enabled: boolean; recoveryCodesRemaining: number }> {
    const row = await this.user(auth.userId);
    if (row.mfa_enabled !== 1) return { enabled: false, recoveryCodesRemaining: 0 };
    return {
      enabled: true,
      recoveryCodesRemaining: await this.deps.repo.countUnusedRecoveryCodes(row.id),
    };
  }

  /** Starts an enrolment: a new secret, pending until `confirm` sees a code made from it. */
  async setup(
    auth: AuthContext,
    input: { password: string },
    context: EventContext,
  ): Promise<TotpSetup> {
    const row = await this.user(auth.userId);
    if (row.mfa_enabled === 1) throw alreadyEnabled();
    const attempt = await this.checkPassword(row, input.password, context, 'mfa.enabled');
    await attempt.succeeded();
    const secret = newTotpSecret();
    const secretEnc = this.deps.cipher.encrypt(secret, totpSecretContext(row.id));
    let saved: boolean;
    try {
      saved = await this.deps.repo.savePending(row.id, secretEnc, this.now());
    } catch (error) {
      // Two setups at once: the other one's row won; its secret is the one to confirm.
      if (isUniqueViolation(error)) {
        throw new AppError('conflict', 'Another authenticator setup started at the same time.');
      }
      throw error;
    }
    if (!saved) throw alreadyEnabled();
    return {
      secret,
      otpauthUri: totpUri(secret, this.deps.issuer, row.email),
      algorithm: 'SHA1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
    };
  }

  /** Ends an enrolment with a first code from the app: MFA is on; returns the recovery codes. */
  async confirm(
    auth: AuthContext,
    input: { mfaCode: string },
    context: EventContext,
  ): Promise<{ recoveryCodes: string[] }> {
    const now = this.now();
    const factor = await this.deps.repo.findFactor(auth.userId);
    if (factor && factor.confirmed_at !== null) throw alreadyEnabled();
    if (!factor || now - factor.created_at > SETUP_TTL_MS) {
      throw new AppError(
        'mfa_setup_required',
        'No authenticator setup is in progress (or it expired after 10 minutes). Start one with POST /api/v1/auth/mfa/totp/setup.',
      );
    }
    const user = await this.user(auth.userId);
    // Counted like a sign-in's code, on the account's wrong-code limit: a stolen access token
    // must not buy unlimited guesses at an enrolment its owner started (success would turn MFA
    // on with the owner's authenticator and hand the recovery codes to the thief).
    const attempt = await this.deps.throttle.beginSecondFactor(user.email, context, user.id);
    const secret = this.deps.cipher.decrypt(factor.secret_enc, totpSecretContext(auth.userId));
    const step = matchTotp(secret, input.mfaCode, now);
    if (step === null) {
      this.ownEvent(context, auth.userId, 'mfa.enabled', 'failure', { reason: 'wrong_mfa_code' });
      throw invalidMfaCode();
    }
    await attempt.succeeded();
    const recoveryCodes = newRecoveryCodes();
    const hashes = recoveryCodes.map((code) => recoveryCodeHash(code, secret, auth.userId)!);
    const session = { id: auth.sessionId, userId: auth.userId };
    const confirmed = await this.whileOpen(auth, context, 'mfa.enabled', async () => {
      if (await this.deps.repo.confirm(auth.userId, factor.secret_enc, step, hashes, now, session))
        return true;
      // `keys reencrypt` may have rewritten the envelope meanwhile: the same enrolment and secret
      // in a new envelope is still the one the code was checked against, so it is confirmed.
      const again = await this.deps.repo.findFactor(auth.userId);
      return (
        again !== undefined &&
        again.confirmed_at === null &&
        again.created_at === factor.created_at &&
        again.secret_enc !== factor.secret_enc &&
        this.deps.cipher.decrypt(again.secret_enc, totpSecretContext(auth.userId)) === secret &&
        (await this.deps.repo.confirm(auth.userId, again.secret_enc, step, hashes, now, session))
      );
    });
    if (!confirmed) {
      // Restarted or confirmed by a concurrent request: this code belonged to the old secret.
      throw new AppError('conflict', 'The authenticator setup changed meanwhile. Start again.');
    }
    this.ownEvent(context, auth.userId, 'mfa.enabled', 'success');
    this.deps.notices?.notifySecurityChange(user, { kind: 'mfa_enabled' });
    // Turned on, often for fear the password is known: any other session (and its refresh
    // token, which needs no code) may be the intruder's, as after a password change. A sign-in
    // in flight is kept: its exchange asks for the new factor.
    await this.deps.sessions.endAll(
      auth.userId,
      'mfa_enabled',
      { ...context, actorId: auth.userId },
      { exceptSessionId: auth.sessionId, signInsInFlight: 'keep' },
    );
    return { recoveryCodes };
  }

  /** Turns MFA off: takes the password and a current code (or a recovery code). */
  async disable(
    auth: AuthContext,
    input: { password: string; mfaCode: string },
    context: EventContext,
  ): Promise<void> {
    const row = await this.proveOwner(auth, input, context, 'mfa.disabled');
    await this.whileOpen(auth, context, 'mfa.disabled', () =>
      this.deps.repo.remove(row.id, this.now(), { id: auth.sessionId, userId: auth.userId }),
    );
    this.ownEvent(context, row.id, 'mfa.disabled', 'success', { by: 'self' });
    this.deps.notices?.notifySecurityChange(row, { kind: 'mfa_disabled' });
  }

  /** A new set of recovery codes; the old ones stop working. Password and a code, as for off. */
  async regenerateRecoveryCodes(
    auth: AuthContext,
    input: { password: string; mfaCode: string },
    context: EventContext,
  ): Promise<{ recoveryCodes: string[] }> {
    const event = 'mfa.recovery_codes_regenerated';
    const row = await this.proveOwner(auth, input, context, event);
    const factor = await this.deps.repo.findFactor(row.id);
    if (!factor || factor.confirmed_at === null) throw notEnabled();
    const confirmedAt = factor.confirmed_at;
    // Keyed by this authenticator's secret: stored only while it is still the one confirmed.
    const secret = this.deps.cipher.decrypt(factor.secret_enc, totpSecretContext(row.id));
    const recoveryCodes = newRecoveryCodes();
    const hashes = recoveryCodes.map((code) => recoveryCodeHash(code, secret, row.id)!);
    const replaced = await this.whileOpen(auth, context, event, () =>
      this.deps.repo.replaceRecoveryCodes(row.id, confirmedAt, hashes, this.now(), {
        id: auth.sessionId,
        userId: auth.userId,
      }),
    );
    if (!replaced) throw notEnabled();
    this.ownEvent(context, row.id, event, 'success');
    this.deps.notices?.notifySecurityChange(row, { kind: 'recovery_codes_regenerated' });
    return { recoveryCodes };
  }

  /**
   * `DELETE /api/v1/users/:id/mfa`: an administrator turns MFA off for another user (see
   * MfaReset.byAdmin).
   */
  resetByAdmin(auth: AuthContext, userId: string, context: EventContext): Promise<void> {
    return this.resets.byAdmin(auth, userId, context);
  }

  /**
   * An administrator's reset for a user who lost both the authenticator and the recovery codes
   * (`bulwark user mfa-reset`, `DELETE /api/v1/users/:id/mfa`). True when MFA was on.
   */
  reset(userId: string, context: EventContext & { actorId?: string | null }): Promise<boolean> {
    return this.resets.reset(userId, context);
  }

  /**
   * Checks a code of a user with MFA on, counted first by the account's wrong-code limit (across
   * clients: whoever sends codes knows the password), which only a right code clears.
   * @throws AppError rate_limited when the account's limit of wrong codes is reached
   */
  async verifyCode(
    row: UserRow,
    mfaCode: string,
    context: EventContext,
  ): Promise<SecondFactorResult> {
    const attempt = await this.deps.throttle.beginSecondFactor(row.email, context, row.id);
    const result = await this.checkSecondFactor(row.id, mfaCode, context);
    if (result.ok) await attempt.succeeded();
    return result;
  }

  /**
   * The check itself, uncounted: a TOTP code (once per time step) or an unused recovery code
   * (used up by this call). Emits no event but `mfa.recovery_code_used`: the caller records the
   * outcome. Call `verifyCode`, which counts it.
   */
  checkSecondFactor(
    userId: string,
    mfaCode: string,
    context: EventContext,
  ): Promise<SecondFactorResult> {
    return this.check.check(userId, mfaCode, context);
  }

  /**
   * The caller's own row, once the caller has shown the password and a current code (or a
   * recovery code) of an account with MFA on: what turning MFA off and new recovery codes take.
   */
  private async proveOwner(
    auth: AuthContext,
    input: { password: string; mfaCode: string },
    context: EventContext,
    event: 'mfa.disabled' | 'mfa.recovery_codes_regenerated',
  ): Promise<UserRow> {
    const row = await this.user(auth.userId);
    if (row.mfa_enabled !== 1) throw notEnabled();
    const attempt = await this.checkPassword(row, input.password, context, event);
    await this.requireCode(row, input.mfaCode, context, event);
    await attempt.succeeded();
    return row;
  }

  private async requireCode(
    row: UserRow,
    mfaCode: string,
    context: EventContext,
    event: 'mfa.disabled' | 'mfa.recovery_codes_regenerated',
  ): Promise<void> {
    // Counted like a sign-in's code: a stolen token and password must not buy a faster way to
    // guess the code that turns MFA off.
    const result = await this.verifyCode(row, mfaCode, context);
    if (result.ok) return;
    this.ownEvent(context, row.id, event, 'failure', { reason: result.reason });
    throw invalidMfaCode();
  }

  /**
   * Runs `write`, made on the caller's session's say-so, which refuses it when that session ended
   * (or its account was disabled) while the request was served: the password and code checks take
   * long enough for its owner to end it from another device, and ending a session stops what it
   * was doing. Recorded as `event`, failure, reason `session_ended`; 401 invalid_token.
   */
  private async whileOpen<T>(
    auth: AuthContext,
    context: EventContext,
    event: 'mfa.enabled' | 'mfa.disabled' | 'mfa.recovery_codes_regenerated',
    write: () => Promise<T>,
  ): Promise<T> {
    return unlessSessionEnded(write, () =>
      this.ownEvent(context, auth.userId, event, 'failure', { reason: 'session_ended' }),
    );
  }

  /**
   * The current password, counted by the login throttle before it is checked. The caller
   * reports success only once every check of the request has passed.
   */
  private async checkPassword(
    row: UserRow,
    password: string,
    context: EventContext,
    event: 'mfa.enabled' | 'mfa.disabled' | 'mfa.recovery_codes_regenerated',
  ): Promise<LoginAttempt> {
    if (row.password_hash === null) {
      throw new AppError(
        'conflict',
        'This account has no password: it signs in through an identity provider, whose own MFA protects it.',
      );
    }
    const attempt = await this.deps.throttle.begin(row.email, context, row.id);
    if (!(await this.deps.hasher.verify(row.password_hash, password)).ok) {
      this.ownEvent(context, row.id, event, 'failure', { reason: 'wrong_password' });
      throw new AppError('invalid_credentials', 'The password is incorrect.');
    }
    return attempt;
  }

  /** An event of a user acting on their own MFA: the user is both actor and target. */
  private ownEvent(
    context: EventContext,
    userId: string,
    type: SecurityEventType,
    outcome: 'success' | 'failure',
    details?: SecurityEvent['details'],
  ): void {
    this.deps.events.emit({
      ...context,
      actorId: userId,
      type,
      outcome,
      target: { type: 'user', id: userId },
      ...(details === undefined ? {} : { details }),
    });
  }

  private async user(id: string): Promise<UserRow> {
    const row = await this.deps.users.findById(id);
    if (!row) throw new AppError('not_found', 'No user with this id.');
    return row;
  }
}

function notEnabled(): AppError {
  return new AppError('mfa_not_enabled', 'MFA is not on.');
}

function alreadyEnabled(): AppError {
  return new AppError(
    'mfa_already_enabled',
    'MFA is already on. Turn it off first to enrol another authenticator.',
  );
}

/** The name authenticator apps show for this service: the issuer's host when it is a URL. */
export function mfaIssuerLabel(tokenIssuer: string): string {
  try {
    const url = new URL(tokenIssuer);
    if (url.host !== '') return url.host;
  } catch {
    // Not a URL: the issuer itself.
  }
  return tokenIssuer;
}
