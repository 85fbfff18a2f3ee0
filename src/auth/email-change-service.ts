import type { AuthContext } from '../access/authenticate.js';
import { sha256Hex, randomToken, type PasswordHasher } from '../crypto/index.js';
import type { EmailTokensRepository, UserRow, UsersRepository } from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { invalidToken } from '../tokens/access-token.js';
import type { Sessions } from '../tokens/sessions.js';
import { normalizeEmail } from '../users/normalize.js';
import type { AccountEmailService } from './account-email-service.js';
import {
  emailChangedMessage,
  emailChangeMessage,
  emailChangeRequestedMessage,
  emailInUseMessage,
} from './account-email-messages.js';
import type { LoginThrottle } from './login-throttle.js';

export interface EmailChangeOptions {
  /** The front-end page of the confirmation link; unset: no address change. */
  changeEmailUrl: string | undefined;
  changeEmailTtlMs: number;
  /** How the service is named in the e-mails (the token issuer's host). */
  serviceName: string;
}

export interface EmailChangeDeps {
  tokens: EmailTokensRepository;
  usersRepo: UsersRepository;
  hasher: Pick<PasswordHasher, 'verify'>;
  /** The failed-login throttle: the current password is a guess like a login's. */
  throttle: Pick<LoginThrottle, 'begin'>;
  sessions: Pick<Sessions, 'endAll'>;
  /** The account e-mails' queue, background work and per-account e-mail limit. */
  accountEmail: Pick<AccountEmailService, 'inBackground' | 'chargeEmail' | 'send'>;
  events: SecurityEvents;
  options: EmailChangeOptions;
  now?: () => number;
}

function invalidEmailChangeToken(): AppError {
  return new AppError(
    'invalid_email_change_token',
    'This address change link is invalid, expired, already used, or for another account. Sign in to the account that asked for it, or ask for a new one.',
  );
}

function emailTaken(): AppError {
  return new AppError('email_taken', 'An account with this email already exists.');
}

/**
 * A user changes their own e-mail address (OWASP Authentication Cheat Sheet, "Changing a user's
 * registered email address"):
 *
 * - The request re-authenticates with the current password, counted by the failed-login throttle
 *   like a login, so a stolen access token buys no unlimited guessing. Accounts without a
 *   password (provider sign-in only) are refused: they have nothing to prove it with here.
 * - The answer is 202 whether or not the new address has an account: the lookup, the token and
 *   the e-mails happen after it. A free address gets a single-use link (one live per account); a
 *   taken one gets a notice instead. The current address is told of the request at once, so a
 *   hijacked session cannot move the account away unseen.
 * - The link is confirmed only from the same account's session: a link proves the mailbox, the
 *   session the account. Otherwise someone could ask for a change to a victim's address and have
 *   the victim click it, putting the victim's address (and their later OpenID Connect sign-in,
 *   which links by verified address) on the attacker's account.
 * - At confirmation the change, the spending of the token and the unique address are one
 *   transaction; the address is then verified, every other e-mailed link and every other session
 *   end, and the former address is told.
 */
export class EmailChangeService {
  private readonly now: () => number;

  constructor(private readonly deps: EmailChangeDeps) {
    this.now = deps.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.deps.options.changeEmailUrl !== undefined;
  }

  /**
   * Checks the caller's password and starts a change to `newEmail`; the rest happens after the
   * answer.
   * @throws AppError validation_failed, email_unchanged, password_required, invalid_credentials,
   *   rate_limited (login throttle, or the account's e-mails of the hour), service_unavailable
   */
  async requestChange(
    auth: AuthContext,
    input: { newEmail: string; password: string },
    context: EventContext,
  ): Promise<void> {
    const newEmail = normalizeEmail(input.newEmail, '/body/newEmail');
    const actor = { ...context, actorId: auth.userId };
    const user = await this.deps.usersRepo.findById(auth.userId);
    if (!user) throw new AppError('not_found', 'No user with this id.');
    if (user.password_hash === null) {
      this.requested(actor, user.id, 'failure', 'no_password');
      throw new AppError(
        'password_required',
        'This account signs in with an identity provider only: it has no password to confirm an address change with.',
      );
    }
    if (newEmail === user.email) {
      throw new AppError('email_unchanged', 'This is already the address of your account.', {
        errors: [{ path: '/body/newEmail', message: 'is the current address' }],
      });
    }
    // Counted before the check, on the same counters as a login (see PasswordChange.change).
    const attempt = await this.deps.throttle.begin(user.email, context, user.id);
    const { ok } = await this.deps.hasher.verify(user.password_hash, input.password);
    if (!ok) {
      this.requested(actor, user.id, 'failure', 'wrong_password');
      throw new AppError('invalid_credentials', 'The password is incorrect.');
    }
    await attempt.succeeded();
    try {
      await this.deps.accountEmail.chargeEmail(user.id);
    } catch (error) {
      if (isAppError(error) && error.code === 'rate_limited') {
        this.requested(actor, user.id, 'failure', 'throttled');
      }
      throw error;
    }
    this.deps.accountEmail.inBackground('e-mail change request', () =>
      this.mailChange(user, newEmail, actor),
    );
  }

  /**
   * Confirms a change with the token of its link, from the account's own session (`auth`).
   * @throws AppError invalid_email_change_token, email_taken
   */
  async confirmChange(
    auth: AuthContext,
    input: { token: string },
    context: EventContext,
  ): Promise<void> {
    const actor = { ...context, actorId: auth.userId };
    const token = await this.deps.tokens.findLive(
      sha256Hex(input.token),
      'email_change',
      this.now(),
    );
    const user = token && (await this.deps.usersRepo.findById(token.user_id));
    const refused = (userId: string | null, reason: string): AppError => {
      this.changed(actor, userId, 'failure', reason);
      return invalidEmailChangeToken();
    };
    if (!token || !user || token.new_email === null) throw refused(null, 'invalid_token');
    // Refused before it is spent: a click from the wrong session leaves the owner's link working.
    if (user.id !== auth.userId) throw refused(user.id, 'other_account');
    if (user.email !== token.email || user.disabled === 1) {
      throw refused(user.id, 'account_changed');
    }
    const newEmail = token.new_email;
    // Taken since the request: said plainly, as the caller proved both the session and the
    // mailbox. The transaction below settles a race with this check.
    if (await this.deps.usersRepo.findByEmail(newEmail)) {
      this.changed(actor, user.id, 'failure', 'email_taken');
      throw emailTaken();
    }
    const outcome = await this.deps.tokens.applyEmailChange({
      tokenId: token.id,
      userId: user.id,
      from: token.email,
      to: newEmail,
      now: this.now(),
      sessionId: auth.sessionId,
    });
    if (outcome.kind === 'session_ended') {
      // Ended while this request was served: ending a session stops what it was doing.
      this.changed(actor, user.id, 'failure', 'session_ended');
      throw invalidToken('session ended');
    }
    if (outcome.kind === 'taken') {
      this.changed(actor, user.id, 'failure', 'email_taken');
      throw emailTaken();
    }
    if (outcome.kind === 'invalid') throw refused(user.id, 'invalid_token');
    this.changed(actor, user.id, 'success');
    // The old address is told first: the change is committed, and if what follows fails (the
    // database, ending the sessions) its owner must still learn of it to act.
    this.deps.accountEmail.send(
      emailChangedMessage({
        to: token.email,
        newEmail,
        service: this.deps.options.serviceName,
      }),
    );
    // Whoever else holds a session may be the reason for the change (or its victim): only the
    // session that proved both the password and the new mailbox stays.
    await this.deps.sessions.endAll(user.id, 'email_changed', actor, {
      exceptSessionId: auth.sessionId,
    });
  }

  /** After the answer: the link (or the notice of a taken address), and word to the old address. */
  private async mailChange(
    user: UserRow,
    newEmail: string,
    actor: EventContext & { actorId: string },
  ): Promise<void> {
    const service = this.deps.options.serviceName;
    const owner = await this.deps.usersRepo.findByEmail(newEmail);
    let sent: boolean;
    if (owner) {
      // An older link of this account stops working too: the latest request is the one that counts.
      await this.deps.tokens.deleteForUser(user.id, 'email_change');
      sent = this.deps.accountEmail.send(emailInUseMessage({ to: newEmail, service }));
    } else {
      const token = randomToken(32);
      const now = this.now();
      const issued = await this.deps.tokens.issue({
        userId: user.id,
        purpose: 'email_change',
        tokenHash: sha256Hex(token),
        email: user.email,
        newEmail,
        // Checked by the request: a password change or reset meanwhile ended pending changes.
        ...(user.password_hash === null ? {} : { passwordHash: user.password_hash }),
        now,
        expiresAt: now + this.deps.options.changeEmailTtlMs,
      });
      // Disabled (which ends every link of the account, for good), deleted, readdressed or given
      // a new password since the request was checked: no link, and no e-mail, as for a request
      // refused outright.
      if (!issued) {
        this.requested(actor, user.id, 'failure', 'account_changed');
        return;
      }
      sent = this.deps.accountEmail.send(
        emailChangeMessage({
          to: newEmail,
          service,
          page: this.deps.options.changeEmailUrl!,
          token,
          ttlMs: this.deps.options.changeEmailTtlMs,
        }),
      );
    }
    this.deps.accountEmail.send(emailChangeRequestedMessage({ to: user.email, newEmail, service }));
    const reason = owner ? 'email_taken' : sent ? undefined : 'mail_refused';
    this.requested(actor, user.id, reason === undefined ? 'success' : 'failure', reason);
  }

  private requested(
    actor: EventContext & { actorId: string },
    userId: string,
    outcome: 'success' | 'failure',
    reason?: string,
  ): void {
    this.deps.events.emit({
      ...actor,
      type: 'email.change_requested',
      outcome,
      target: { type: 'user', id: userId },
      ...(reason === undefined ? {} : { details: { reason } }),
    });
  }

  private changed(
    actor: EventContext & { actorId: string },
    userId: string | null,
    outcome: 'success' | 'failure',
    reason?: string,
  ): void {
    this.deps.events.emit({
      ...actor,
      type: 'email.changed',
      outcome,
      target: userId === null ? null : { type: 'user', id: userId },
      ...(reason === undefined ? {} : { details: { reason } }),
    });
  }
}
