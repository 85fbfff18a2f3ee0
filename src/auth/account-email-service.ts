import type { Logger } from 'pino';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { randomToken, sha256Hex } from '../crypto/index.js';
import type {
  EmailTokenPurpose,
  EmailTokensRepository,
  UserRow,
  UsersRepository,
} from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { Mailer, MailMessage } from '../mail/index.js';
import { rateLimitHeaders, storeUnavailable } from '../rate-limit/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { canonicalEmail } from '../users/normalize.js';
import type { UsersService } from '../users/users-service.js';
import {
  passwordChangedMessage,
  passwordResetMessage,
  verificationMessage,
} from './account-email-messages.js';

/** Requests for a reset link waiting for their lookup and mail; beyond this they are dropped. */
const MAX_PENDING = 1_000;

export interface AccountEmailOptions {
  /** The front-end page of the reset link; unset: no password reset by e-mail. */
  passwordResetUrl: string | undefined;
  /** The front-end page of the verification link; unset: no address verification. */
  verifyEmailUrl: string | undefined;
  passwordResetTtlMs: number;
  verificationTtlMs: number;
  /** How the service is named in the e-mails (the token issuer's host). */
  serviceName: string;
}

export interface AccountEmailDeps {
  tokens: EmailTokensRepository;
  usersRepo: UsersRepository;
  users: Pick<UsersService, 'setPassword'>;
  mailer: Pick<Mailer, 'send' | 'idle' | 'close'>;
  /** E-mails per account and hour (the shared store); null when rate limiting is off. */
  mailLimit: RateLimiterAbstract | null;
  events: SecurityEvents;
  logger: Pick<Logger, 'warn' | 'error'>;
  options: AccountEmailOptions;
  now?: () => number;
}

function invalidResetToken(): AppError {
  return new AppError(
    'invalid_reset_token',
    'This password reset link is invalid, expired or already used. Ask for a new one.',
  );
}

function invalidVerificationToken(): AppError {
  return new AppError(
    'invalid_verification_token',
    'This verification link is invalid, expired or already used. Ask for a new one.',
  );
}

/**
 * Account e-mails: password reset links, address verification links, and the notice that a
 * password changed (OWASP Forgot Password Cheat Sheet).
 *
 * - A reset request answers the same at once whether or not the address has an account: the
 *   lookup, the token and the e-mail happen after the answer, so neither body nor timing tells.
 * - Tokens are 256 random bits, stored as SHA-256, single-use, short-lived, one live per account
 *   and purpose; the link carries them in its #fragment, which browsers never send to a server.
 * - Link hosts come from config only, never from the request (no Host-header poisoning).
 * - A reset ends every session and does not sign in; MFA stays on, so the next sign-in still
 *   takes the second factor. Each account gets at most `perAccountPerHour` e-mails.
 */
export class AccountEmailService {
  private readonly now: () => number;
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly deps: AccountEmailDeps) {
    this.now = deps.now ?? Date.now;
  }

  get resetEnabled(): boolean {
    return this.deps.options.passwordResetUrl !== undefined;
  }

  get verificationEnabled(): boolean {
    return this.deps.options.verifyEmailUrl !== undefined;
  }

  /**
   * Starts a password reset for `email` and returns at once: whether the address has an
   * account, is throttled or gets an e-mail is decided in the background and never answered.
   */
  requestPasswordReset(email: string, context: EventContext): void {
    this.inBackground('password reset request', () =>
      this.sendPasswordReset(canonicalEmail(email), context),
    );
  }

  /**
   * Sets a new password with a reset token: every session of the account ends. The token is
   * spent only once the new password passed the policy, so a weak one can be corrected.
   * @throws AppError invalid_reset_token, weak_password
   */
  async resetPassword(
    input: { token: string; newPassword: string },
    context: EventContext,
  ): Promise<void> {
    const token = await this.deps.tokens.findLive(
      sha256Hex(input.token),
      'password_reset',
      this.now(),
    );
    const user = token && (await this.deps.usersRepo.findById(token.user_id));
    if (!token || !user || !resettable(user, token.email)) {
      this.resetFailed(context, user?.id ?? null, token ? 'account_changed' : 'invalid_token');
      throw invalidResetToken();
    }
    try {
      await this.deps.users.setPassword(user.id, input.newPassword, context, {
        beforeWrite: async () => {
          // Read again after the policy check and the hash (which take a while): an account
          // disabled or deleted meanwhile is not given a password by a link sent before.
          const current = await this.deps.usersRepo.findById(user.id);
          if (!current || !resettable(current, token.email)) throw invalidResetToken();
          if (!(await this.deps.tokens.consume(token.id, this.now()))) throw invalidResetToken();
        },
        // Told as soon as it is stored: the owner's word must not depend on the clean-up after.
        afterWrite: () => this.notifyPasswordChanged(user),
        details: { via: 'email' },
      });
    } catch (error) {
      if (isAppError(error) && error.code === 'invalid_reset_token') {
        this.resetFailed(context, user.id, 'invalid_token');
      }
      throw error;
    }
    await this.deps.tokens.deleteForUser(user.id, 'password_reset');
    // The link reached this address: it is verified now.
    if (user.email_verified !== 1) await this.markVerified(user, context);
  }

  /** After a sign-up: the verification e-mail, sent in the background. */
  sendVerification(user: UserRow, context: EventContext): void {
    if (!this.verificationEnabled || user.email_verified === 1) return;
    this.inBackground('verification e-mail', async () => {
      await this.sendVerificationNow(user, context);
    });
  }

  /**
   * The caller asks for a new verification e-mail.
   * @throws AppError email_already_verified, rate_limited (with Retry-After)
   */
  async resendVerification(userId: string, context: EventContext): Promise<void> {
    const user = await this.deps.usersRepo.findById(userId);
    if (!user) throw new AppError('not_found', 'No user with this id.');
    if (user.email_verified === 1) {
      throw new AppError('email_already_verified', 'This address is already verified.');
    }
    const wait = await this.mailAllowance(user.id, true);
    if (wait !== 0) {
      this.verificationSent(context, user.id, 'failure', 'throttled');
      throw this.tooManyEmails(wait);
    }
    await this.issueVerification(user, context);
  }

  /**
   * An administrator sends a user a reset link (users:write): for a user who forgot the
   * password, without the administrator ever knowing or choosing one. Unlike `forgot`, the
   * answer says what happened: the caller may see the account anyway.
   * @throws AppError not_found, conflict (disabled, or no password to reset), rate_limited
   */
  async sendResetLinkAsAdmin(
    actorId: string,
    userId: string,
    context: EventContext,
  ): Promise<void> {
    const actor = { ...context, actorId };
    const user = await this.deps.usersRepo.findById(userId);
    if (!user) throw new AppError('not_found', 'No user with this id.');
    if (user.disabled === 1 || user.password_hash === null) {
      const reason = user.disabled === 1 ? 'disabled' : 'no_password';
      this.resetRequested(actor, user.id, 'failure', reason, { by: 'admin' });
      throw new AppError(
        'conflict',
        user.disabled === 1
          ? 'This account is disabled: a reset link would not work. Enable it first.'
          : 'This account signs in with an identity provider only: it has no password to reset.',
      );
    }
    const wait = await this.mailAllowance(user.id, true);
    if (wait !== 0) {
      this.resetRequested(actor, user.id, 'failure', 'throttled', { by: 'admin' });
      throw this.tooManyEmails(wait);
    }
    await this.mailResetLink(user, actor, { by: 'admin' });
  }

  /**
   * Marks the address verified with a verification token.
   * @throws AppError invalid_verification_token
   */
  async verifyEmail(
    userId: string,
    input: { token: string },
    context: EventContext,
  ): Promise<void> {
    const token = await this.deps.tokens.findLive(
      sha256Hex(input.token),
      'email_verification',
      this.now(),
    );
    const user = token && (await this.deps.usersRepo.findById(token.user_id));
    // Only the account's own session verifies it: a link proves the mailbox, the session the
    // password. Someone who registered another person's address with a password of their own
    // cannot have it verified by a click of that person (which would let the person's later
    // OpenID Connect sign-in link into the squatted account).
    if (
      !token ||
      !user ||
      user.id !== userId ||
      user.email !== token.email ||
      !(await this.deps.tokens.consume(token.id, this.now()))
    ) {
      this.deps.events.emit({
        ...context,
        type: 'email.verified',
        outcome: 'failure',
        actorId: userId,
        target: user ? { type: 'user', id: user.id } : null,
        details: {
          reason:
            !token || !user
              ? 'invalid_token'
              : user.id !== userId
                ? 'other_account'
                : 'account_changed',
        },
      });
      throw invalidVerificationToken();
    }
    await this.deps.tokens.deleteForUser(user.id, 'email_verification');
    if (user.email_verified !== 1) await this.markVerified(user, { ...context, actorId: userId });
  }

  /** Tells the owner their password changed (a reset or a change), in the background. */
  notifyPasswordChanged(user: Pick<UserRow, 'email'>): void {
    this.deps.mailer.send(
      passwordChangedMessage({ to: user.email, service: this.deps.options.serviceName }),
    );
  }

  /** Queues an account e-mail; false when the queue refused it (full or closing). */
  send(message: MailMessage): boolean {
    return this.deps.mailer.send(message);
  }

  /**
   * Counts one e-mail to the account for a caller who waits for the answer.
   * @throws AppError rate_limited (with Retry-After) past `perAccountPerHour`; service_unavailable
   *   when the store cannot count
   */
  async chargeEmail(userId: string): Promise<void> {
    const wait = await this.mailAllowance(userId, true);
    if (wait !== 0) throw this.tooManyEmails(wait);
  }

  /** Resolves when no request is being worked on and no e-mail is queued or being sent. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.deps.mailer.idle();
  }

  /**
   * Waits for the background work, then for the e-mails queued, up to `drainMs` (then the rest
   * are abandoned, logged and counted as dropped).
   */
  async close(drainMs?: number): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    await this.deps.mailer.close(drainMs);
  }

  /**
   * Runs `work` after the answer is written, counted by `idle` and `close`; a failure is logged.
   * Refused (logged) while closing or when too much is pending.
   */
  inBackground(what: string, work: () => Promise<void>): void {
    if (this.closed || this.pending.size >= MAX_PENDING) {
      this.deps.logger.warn(
        { what },
        'account e-mail work refused: shutting down or too many pending',
      );
      return;
    }
    // Started after the answer is written (setImmediate runs after the I/O of this turn): no
    // lookup, token or e-mail of the request's account can lengthen the answer, so its timing
    // says nothing about whether the account exists.
    const job: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(work)
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error, what }, 'account e-mail work failed');
      })
      .finally(() => this.pending.delete(job));
    this.pending.add(job);
  }

  private async sendPasswordReset(email: string, context: EventContext): Promise<void> {
    const user = await this.deps.usersRepo.findByEmail(email);
    const reason = !user
      ? 'unknown_email'
      : user.disabled === 1
        ? 'disabled'
        : user.password_hash === null
          ? 'no_password'
          : (await this.mailAllowance(user.id, false)) !== 0
            ? 'throttled'
            : null;
    if (!user || reason !== null) {
      this.resetRequested(context, user?.id ?? null, 'failure', reason ?? 'unknown_email');
      return;
    }
    await this.mailResetLink(user, context);
  }

  /** Issues a reset token for `user` and queues its e-mail; records the request. */
  private async mailResetLink(
    user: UserRow,
    context: EventContext,
    details: Record<string, string> = {},
  ): Promise<void> {
    const token = await this.issueToken(
      user,
      'password_reset',
      this.deps.options.passwordResetTtlMs,
    );
    const sent = this.deps.mailer.send(
      passwordResetMessage({
        to: user.email,
        service: this.deps.options.serviceName,
        page: this.deps.options.passwordResetUrl!,
        token,
        ttlMs: this.deps.options.passwordResetTtlMs,
      }),
    );
    this.resetRequested(
      context,
      user.id,
      sent ? 'success' : 'failure',
      sent ? undefined : 'mail_refused',
      details,
    );
  }

  private async sendVerificationNow(user: UserRow, context: EventContext): Promise<void> {
    if ((await this.mailAllowance(user.id, false)) !== 0) {
      this.verificationSent(context, user.id, 'failure', 'throttled');
      return;
    }
    await this.issueVerification(user, context);
  }

  private async issueVerification(user: UserRow, context: EventContext): Promise<void> {
    const token = await this.issueToken(
      user,
      'email_verification',
      this.deps.options.verificationTtlMs,
    );
    const sent = this.deps.mailer.send(
      verificationMessage({
        to: user.email,
        service: this.deps.options.serviceName,
        page: this.deps.options.verifyEmailUrl!,
        token,
        ttlMs: this.deps.options.verificationTtlMs,
      }),
    );
    this.verificationSent(
      context,
      user.id,
      sent ? 'success' : 'failure',
      sent ? undefined : 'mail_refused',
    );
  }

  private async issueToken(
    user: UserRow,
    purpose: EmailTokenPurpose,
    ttlMs: number,
  ): Promise<string> {
    const token = randomToken(32);
    const now = this.now();
    await this.deps.tokens.issue({
      userId: user.id,
      purpose,
      tokenHash: sha256Hex(token),
      email: user.email,
      now,
      expiresAt: now + ttlMs,
    });
    return token;
  }

  /**
   * Counts one e-mail to the account: 0 when it may be sent, else the ms until it may. A store
   * failure refuses the e-mail: for a caller waiting (`answer`) as a 503, else as a wait.
   */
  private async mailAllowance(userId: string, answer: boolean): Promise<number> {
    const limit = this.deps.mailLimit;
    if (!limit) return 0;
    try {
      await limit.consume(userId);
      return 0;
    } catch (error) {
      if (error instanceof RateLimiterRes) return Math.max(error.msBeforeNext, 1);
      if (answer) throw storeUnavailable(error);
      this.deps.logger.error(
        { err: error },
        'the e-mail limit could not be counted: no e-mail sent',
      );
      return 1;
    }
  }

  private async markVerified(
    user: UserRow,
    context: EventContext & { actorId?: string | null },
  ): Promise<void> {
    await this.deps.usersRepo.update(user.id, { email_verified: 1, updated_at: this.now() });
    this.deps.events.emit({
      ...context,
      type: 'email.verified',
      outcome: 'success',
      target: { type: 'user', id: user.id },
    });
  }

  private resetRequested(
    context: EventContext & { actorId?: string | null },
    userId: string | null,
    outcome: 'success' | 'failure',
    reason?: string,
    extra: Record<string, string> = {},
  ): void {
    const details = { ...extra, ...(reason === undefined ? {} : { reason }) };
    this.deps.events.emit({
      ...context,
      type: 'password.reset_requested',
      outcome,
      target: userId === null ? null : { type: 'user', id: userId },
      ...(Object.keys(details).length === 0 ? {} : { details }),
    });
  }

  /** 429 for an account past its e-mails of the hour; `waitMs` until the next may go. */
  private tooManyEmails(waitMs: number): AppError {
    const retryAfter = Math.max(Math.ceil(waitMs / 1000), 1);
    return new AppError(
      'rate_limited',
      `Too many e-mails to this account. Retry in ${retryAfter} s.`,
      {
        headers: {
          'retry-after': String(retryAfter),
          ...rateLimitHeaders({
            limit: this.deps.mailLimit?.points ?? 0,
            remaining: 0,
            resetSeconds: retryAfter,
          }),
        },
      },
    );
  }

  private resetFailed(context: EventContext, userId: string | null, reason: string): void {
    this.deps.events.emit({
      ...context,
      type: 'password.reset',
      outcome: 'failure',
      target: userId === null ? null : { type: 'user', id: userId },
      details: { reason },
    });
  }

  private verificationSent(
    context: EventContext,
    userId: string,
    outcome: 'success' | 'failure',
    reason?: string,
  ): void {
    this.deps.events.emit({
      ...context,
      type: 'email.verification_sent',
      outcome,
      target: { type: 'user', id: userId },
      ...(reason === undefined ? {} : { details: { reason } }),
    });
  }
}

/**
 * Whether a reset link sent to `email` may set this account's password: not when it was disabled
 * (an administrator's decision a mailbox does not overturn), has another address, or signs in
 * with a provider only (no password to reset; none was ever mailed a link).
 */
function resettable(user: UserRow, email: string): boolean {
  return user.disabled !== 1 && user.email === email && user.password_hash !== null;
}
