import { sha256Hex } from '../crypto/index.js';
import type {
  ActingSession,
  EmailTokensRepository,
  UserRow,
  UsersRepository,
} from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { Mailer } from '../mail/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import { canonicalEmail } from '../users/normalize.js';
import type { UsersService } from '../users/users-service.js';
import { passwordResetMessage } from './account-email-messages.js';
import type { AccountEmailService } from './account-email-service.js';
import type { AccountMailLimit } from './account-mail-limit.js';
import type { BackgroundWork } from './background-work.js';
import type { EmailVerification } from './email-verification.js';
import { issueLinkToken } from './link-token.js';

export interface PasswordResetDeps {
  tokens: EmailTokensRepository;
  usersRepo: UsersRepository;
  users: Pick<UsersService, 'setPassword'>;
  mailer: Pick<Mailer, 'send'>;
  limit: AccountMailLimit;
  background: Pick<BackgroundWork, 'run'>;
  /** The notice that the password changed, sent once the new one is stored. */
  notices: Pick<AccountEmailService, 'notifyPasswordChanged'>;
  /** A used reset link proves the address too. */
  verification: Pick<EmailVerification, 'markVerified'>;
  events: SecurityEvents;
  options: {
    /** The front-end page of the reset link; unset: no password reset by e-mail. */
    passwordResetUrl: string | undefined;
    passwordResetTtlMs: number;
    serviceName: string;
  };
  now: () => number;
}

function invalidResetToken(): AppError {
  return new AppError(
    'invalid_reset_token',
    'This password reset link is invalid, expired or already used. Ask for a new one.',
  );
}

/**
 * Password reset by an e-mailed link (OWASP Forgot Password Cheat Sheet). A request answers the
 * same at once whether or not the address has an account; a reset ends every session and does
 * not sign in.
 */
export class PasswordReset {
  constructor(private readonly deps: PasswordResetDeps) {}

  get enabled(): boolean {
    return this.deps.options.passwordResetUrl !== undefined;
  }

  /**
   * Starts a password reset for `email` and returns at once: whether the address has an
   * account, is throttled or gets an e-mail is decided in the background and never answered.
   */
  request(email: string, context: EventContext): void {
    this.deps.background.run('password reset request', () =>
      this.sendPasswordReset(canonicalEmail(email), context),
    );
  }

  /**
   * Sets a new password with a reset token: every session of the account ends. The token is
   * spent only once the new password passed the policy, so a weak one can be corrected.
   * @throws AppError invalid_reset_token, weak_password
   */
  async reset(input: { token: string; newPassword: string }, context: EventContext): Promise<void> {
    const token = await this.deps.tokens.findLive(
      sha256Hex(input.token),
      'password_reset',
      this.deps.now(),
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
          if (!(await this.deps.tokens.consume(token.id, this.deps.now()))) {
            throw invalidResetToken();
          }
        },
        // Told as soon as it is stored: the owner's word must not depend on the clean-up after.
        afterWrite: () => this.deps.notices.notifyPasswordChanged(user),
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
    if (user.email_verified !== 1) await this.deps.verification.markVerified(user, context);
  }

  /**
   * An administrator sends a user a reset link (users:write): for a user who forgot the
   * password, without the administrator ever knowing or choosing one. Unlike `forgot`, the
   * answer says what happened: the caller may see the account anyway.
   * @throws AppError not_found, conflict (disabled, or no password to reset), rate_limited
   */
  async sendLinkAsAdmin(
    session: ActingSession,
    userId: string,
    context: EventContext,
  ): Promise<void> {
    const actor = { ...context, actorId: session.userId };
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
    const wait = await this.deps.limit.allowance(user.id, true);
    if (wait !== 0) {
      this.resetRequested(actor, user.id, 'failure', 'throttled', { by: 'admin' });
      throw this.deps.limit.tooManyEmails(wait);
    }
    // The administrator's session ended (or the account was disabled) while this was served:
    // no link is stored or sent, as for any request of an ended session.
    const sent = await unlessSessionEnded(
      () => this.mailResetLink(user, actor, { by: 'admin' }, session),
      () => this.resetRequested(actor, user.id, 'failure', 'session_ended', { by: 'admin' }),
    );
    if (!sent) {
      throw new AppError(
        'conflict',
        'This account was disabled or changed meanwhile: no reset link was sent.',
      );
    }
  }

  private async sendPasswordReset(email: string, context: EventContext): Promise<void> {
    const user = await this.deps.usersRepo.findByEmail(email);
    const reason = !user
      ? 'unknown_email'
      : user.disabled === 1
        ? 'disabled'
        : user.password_hash === null
          ? 'no_password'
          : (await this.deps.limit.allowance(user.id, false)) !== 0
            ? 'throttled'
            : null;
    if (!user || reason !== null) {
      this.resetRequested(context, user?.id ?? null, 'failure', reason ?? 'unknown_email');
      return;
    }
    await this.mailResetLink(user, context);
  }

  /**
   * Issues a reset token for `user` and queues its e-mail; records the request. False, sending
   * nothing, when the account was disabled, deleted or readdressed since `user` was read.
   */
  private async mailResetLink(
    user: UserRow,
    context: EventContext,
    details: Record<string, string> = {},
    session?: ActingSession,
  ): Promise<boolean> {
    const { options } = this.deps;
    const token = await issueLinkToken(
      this.deps.tokens,
      user,
      'password_reset',
      options.passwordResetTtlMs,
      this.deps.now(),
      session,
    );
    if (token === null) {
      this.resetRequested(context, user.id, 'failure', 'account_changed', details);
      return false;
    }
    const sent = this.deps.mailer.send(
      passwordResetMessage({
        to: user.email,
        service: options.serviceName,
        page: options.passwordResetUrl!,
        token,
        ttlMs: options.passwordResetTtlMs,
      }),
    );
    this.resetRequested(
      context,
      user.id,
      sent ? 'success' : 'failure',
      sent ? undefined : 'mail_refused',
      details,
    );
    return true;
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

  private resetFailed(context: EventContext, userId: string | null, reason: string): void {
    this.deps.events.emit({
      ...context,
      type: 'password.reset',
      outcome: 'failure',
      target: userId === null ? null : { type: 'user', id: userId },
      details: { reason },
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
