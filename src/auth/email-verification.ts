import { sha256Hex } from '../crypto/index.js';
import type { EmailTokensRepository, UserRow, UsersRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import type { Mailer } from '../mail/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { verificationMessage } from './account-email-messages.js';
import type { AccountMailLimit } from './account-mail-limit.js';
import type { BackgroundWork } from './background-work.js';
import { issueLinkToken } from './link-token.js';

export interface EmailVerificationDeps {
  tokens: EmailTokensRepository;
  usersRepo: UsersRepository;
  mailer: Pick<Mailer, 'send'>;
  limit: AccountMailLimit;
  background: Pick<BackgroundWork, 'run'>;
  events: SecurityEvents;
  options: {
    /** The front-end page of the verification link; unset: no address verification. */
    verifyEmailUrl: string | undefined;
    verificationTtlMs: number;
    serviceName: string;
  };
  now: () => number;
}

function invalidVerificationToken(): AppError {
  return new AppError(
    'invalid_verification_token',
    'This verification link is invalid, expired or already used. Ask for a new one.',
  );
}

/**
 * Address verification by an e-mailed link, which proves the mailbox; it is confirmed only from
 * the account's own session, which proves the password.
 */
export class EmailVerification {
  constructor(private readonly deps: EmailVerificationDeps) {}

  get enabled(): boolean {
    return this.deps.options.verifyEmailUrl !== undefined;
  }

  /** After a sign-up: the verification e-mail, sent in the background. */
  send(user: UserRow, context: EventContext): void {
    if (!this.enabled || user.email_verified === 1) return;
    this.deps.background.run('verification e-mail', async () => {
      await this.sendNow(user, context);
    });
  }

  /**
   * The caller asks for a new verification e-mail.
   * @throws AppError email_already_verified, rate_limited (with Retry-After)
   */
  async resend(userId: string, context: EventContext): Promise<void> {
    const user = await this.deps.usersRepo.findById(userId);
    if (!user) throw new AppError('not_found', 'No user with this id.');
    if (user.email_verified === 1) {
      throw new AppError('email_already_verified', 'This address is already verified.');
    }
    const wait = await this.deps.limit.allowance(user.id, true);
    if (wait !== 0) {
      this.verificationSent(context, user.id, 'failure', 'throttled');
      throw this.deps.limit.tooManyEmails(wait);
    }
    await this.issue(user, context);
  }

  /**
   * Marks the address verified with a verification token.
   * @throws AppError invalid_verification_token
   */
  async verify(userId: string, input: { token: string }, context: EventContext): Promise<void> {
    const token = await this.deps.tokens.findLive(
      sha256Hex(input.token),
      'email_verification',
      this.deps.now(),
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
      !(await this.deps.tokens.consume(token.id, this.deps.now()))
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

  /** Marks the address verified (a link sent to it was used) and records it. */
  async markVerified(
    user: UserRow,
    context: EventContext & { actorId?: string | null },
  ): Promise<void> {
    await this.deps.usersRepo.update(user.id, { email_verified: 1, updated_at: this.deps.now() });
    this.deps.events.emit({
      ...context,
      type: 'email.verified',
      outcome: 'success',
      target: { type: 'user', id: user.id },
    });
  }

  private async sendNow(user: UserRow, context: EventContext): Promise<void> {
    if ((await this.deps.limit.allowance(user.id, false)) !== 0) {
      this.verificationSent(context, user.id, 'failure', 'throttled');
      return;
    }
    await this.issue(user, context);
  }

  private async issue(user: UserRow, context: EventContext): Promise<void> {
    const { options } = this.deps;
    const token = await issueLinkToken(
      this.deps.tokens,
      user,
      'email_verification',
      options.verificationTtlMs,
      this.deps.now(),
    );
    // Disabled, deleted or readdressed since `user` was read: no link for it.
    if (token === null) {
      this.verificationSent(context, user.id, 'failure', 'account_changed');
      return;
    }
    const sent = this.deps.mailer.send(
      verificationMessage({
        to: user.email,
        service: options.serviceName,
        page: options.verifyEmailUrl!,
        token,
        ttlMs: options.verificationTtlMs,
      }),
    );
    this.verificationSent(
      context,
      user.id,
      sent ? 'success' : 'failure',
      sent ? undefined : 'mail_refused',
    );
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
