import type { Logger } from 'pino';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type {
  ActingSession,
  EmailTokensRepository,
  SessionRow,
  SessionsRepository,
  UserRow,
  UsersRepository,
} from '../db/index.js';
import type { Mailer, MailMessage } from '../mail/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { UsersService } from '../users/users-service.js';
import {
  passwordChangedMessage,
  securityNoticeMessage,
  type SecurityNotice,
} from './account-email-messages.js';
import { AccountMailLimit } from './account-mail-limit.js';
import { BackgroundWork } from './background-work.js';
import { EmailVerification } from './email-verification.js';
import { isNewSignIn } from './new-sign-in-notice.js';
import { PasswordReset } from './password-reset.js';

export interface AccountEmailOptions {
  /** The front-end page of the reset link; unset: no password reset by e-mail. */
  passwordResetUrl: string | undefined;
  /** The front-end page of the verification link; unset: no address verification. */
  verifyEmailUrl: string | undefined;
  passwordResetTtlMs: number;
  verificationTtlMs: number;
  /** How the service is named in the e-mails (the token issuer's host). */
  serviceName: string;
  /** E-mail the owner about a sign-in from a network none of its kept sessions came from. */
  newSignInNotices: boolean;
  /** How long ended sessions are kept (tokens.sessionRetentionSeconds), in milliseconds. */
  sessionRetentionMs: number;
}

export interface AccountEmailDeps {
  tokens: EmailTokensRepository;
  /** Where an account's earlier sessions came from (new sign-in notices). */
  sessions: Pick<SessionsRepository, 'recentOrigins'>;
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
  private readonly limit: AccountMailLimit;
  private readonly background: BackgroundWork;
  private readonly verification: EmailVerification;
  private readonly passwordReset: PasswordReset;

  constructor(private readonly deps: AccountEmailDeps) {
    const now = deps.now ?? Date.now;
    this.limit = new AccountMailLimit(deps.mailLimit, deps.logger);
    this.background = new BackgroundWork(deps.logger);
    const shared = {
      tokens: deps.tokens,
      usersRepo: deps.usersRepo,
      mailer: deps.mailer,
      limit: this.limit,
      background: this.background,
      events: deps.events,
      options: deps.options,
      now,
    };
    this.verification = new EmailVerification(shared);
    this.passwordReset = new PasswordReset({
      ...shared,
      users: deps.users,
      notices: this,
      verification: this.verification,
    });
  }

  get resetEnabled(): boolean {
    return this.passwordReset.enabled;
  }

  get verificationEnabled(): boolean {
    return this.verification.enabled;
  }

  /**
   * Starts a password reset for `email` and returns at once: whether the address has an
   * account, is throttled or gets an e-mail is decided in the background and never answered.
   */
  requestPasswordReset(email: string, context: EventContext): void {
    this.passwordReset.request(email, context);
  }

  /**
   * Sets a new password with a reset token: every session of the account ends.
   * @throws AppError invalid_reset_token, weak_password
   */
  resetPassword(
    input: { token: string; newPassword: string },
    context: EventContext,
  ): Promise<void> {
    return this.passwordReset.reset(input, context);
  }

  /** After a sign-up: the verification e-mail, sent in the background. */
  sendVerification(user: UserRow, context: EventContext): void {
    this.verification.send(user, context);
  }

  /**
   * The caller asks for a new verification e-mail.
   * @throws AppError email_already_verified, rate_limited (with Retry-After)
   */
  resendVerification(userId: string, context: EventContext): Promise<void> {
    return this.verification.resend(userId, context);
  }

  /**
   * An administrator sends a user a reset link (users:write), from session `actor`.
   * @throws AppError not_found, conflict (disabled, or no password to reset), rate_limited,
   *   invalid_token (the administrator's session ended meanwhile)
   */
  sendResetLinkAsAdmin(actor: ActingSession, userId: string, context: EventContext): Promise<void> {
    return this.passwordReset.sendLinkAsAdmin(actor, userId, context);
  }

  /**
   * Marks the address verified with a verification token.
   * @throws AppError invalid_verification_token
   */
  verifyEmail(userId: string, input: { token: string }, context: EventContext): Promise<void> {
    return this.verification.verify(userId, input, context);
  }

  /** Tells the owner their password changed (a reset or a change), in the background. */
  notifyPasswordChanged(user: Pick<UserRow, 'email'>): void {
    this.deps.mailer.send(
      passwordChangedMessage({ to: user.email, service: this.deps.options.serviceName }),
    );
  }

  /** Tells the owner of a security change to their account (MFA, sign-ins, deletion), later. */
  notifySecurityChange(user: Pick<UserRow, 'email'>, notice: SecurityNotice): void {
    this.deps.mailer.send(
      securityNoticeMessage({ to: user.email, service: this.deps.options.serviceName, notice }),
    );
  }

  /**
   * After the answer: tells the owner of a sign-in from a network none of the account's kept
   * sessions came from (see isNewSignIn), when `email.newSignInNotices` is on.
   */
  noticeIfNewSignIn(
    user: Pick<UserRow, 'id' | 'email' | 'created_at'>,
    session: Pick<SessionRow, 'id' | 'ip' | 'created_at'>,
  ): void {
    const { options } = this.deps;
    if (!options.newSignInNotices) return;
    this.background.run('new sign-in notice', async () => {
      if (!(await isNewSignIn(this.deps.sessions, user, session, options.sessionRetentionMs))) {
        return;
      }
      this.notifySecurityChange(user, {
        kind: 'new_sign_in',
        ip: session.ip ?? '',
        at: session.created_at,
      });
    });
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
    const wait = await this.limit.allowance(userId, true);
    if (wait !== 0) throw this.limit.tooManyEmails(wait);
  }

  /** Resolves when no request is being worked on and no e-mail is queued or being sent. */
  async idle(): Promise<void> {
    await this.background.idle();
    await this.deps.mailer.idle();
  }

  /**
   * Waits for the background work, then for the e-mails queued, up to `drainMs` (then the rest
   * are abandoned, logged and counted as dropped).
   */
  async close(drainMs?: number): Promise<void> {
    await this.background.close();
    await this.deps.mailer.close(drainMs);
  }

  /**
   * Runs `work` after the answer is written, counted by `idle` and `close`; a failure is logged.
   * Refused (logged) while closing or when too much is pending.
   */
  inBackground(what: string, work: () => Promise<void>): void {
    this.background.run(what, work);
  }
}
