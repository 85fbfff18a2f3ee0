import type { AuthContext } from '../access/authenticate.js';
import type { PasswordHasher } from '../crypto/index.js';
import { normalizePassword } from '../crypto/password-input.js';
import type { UsersRepository } from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { UsersService } from '../users/users-service.js';
import type { AccountEmailService } from './account-email-service.js';
import type { LoginThrottle } from './login-throttle.js';

export interface PasswordChangeDeps {
  users: Pick<UsersService, 'writePassword'>;
  repo: Pick<UsersRepository, 'findById'>;
  hasher: Pick<PasswordHasher, 'verify'>;
  /** The failed-login throttle: the current password is a guess like a login's. */
  throttle: Pick<LoginThrottle, 'begin'>;
  /** Account e-mails, when configured: the notice that the password changed. */
  accountEmail?: Pick<AccountEmailService, 'notifyPasswordChanged'> | undefined;
  events: SecurityEvents;
}

/** A signed-in user changes their own password by proving the current one. */
export class PasswordChange {
  constructor(private readonly deps: PasswordChangeDeps) {}

  /** Changes the caller's password after checking the current one; every other session ends. */
  async change(
    auth: AuthContext,
    input: { currentPassword: string; newPassword: string },
    context: EventContext,
  ): Promise<void> {
    const row = await this.deps.repo.findById(auth.userId);
    if (!row) throw new AppError('not_found', 'No user with this id.');
    // The current password is a password guess like a login's: a stolen access token must not
    // buy a faster way to guess it (auth policy only: 20 a minute, without end) than the login
    // throttle allows, so the attempt is counted on the same account counters, before the check.
    const attempt = await this.deps.throttle.begin(row.email, context, row.id);
    const current = row.password_hash
      ? await this.deps.hasher.verify(row.password_hash, input.currentPassword)
      : { ok: false };
    if (!current.ok) {
      this.passwordChangeFailed(context, auth.userId, 'wrong_current_password');
      throw new AppError('invalid_credentials', 'The current password is incorrect.');
    }
    await attempt.succeeded();
    // A "change" that keeps the password leaves whoever may know it signed in with it, while the
    // owner believes it replaced (and every other session ends as if it had been). Compared in
    // the form that is hashed, so a differently composed spelling of it is the same password.
    if (normalizePassword(input.newPassword) === normalizePassword(input.currentPassword)) {
      throw new AppError('weak_password', 'Choose a password other than the current one.', {
        errors: [{ path: '/body/newPassword', message: 'must differ from the current password' }],
      });
    }
    // Checked against row.password_hash: a reset (or another change) stored while the check ran
    // ended this session and must stand, so the write is made over that hash only.
    try {
      await this.deps.users.writePassword(row, input.newPassword, {
        kind: 'changed',
        actor: { ...context, actorId: auth.userId },
        path: '/body/newPassword',
        keepSessionId: auth.sessionId,
        expectedHash: row.password_hash!,
        // Told as soon as it is stored: the owner's word must not depend on the clean-up after.
        afterWrite: () => this.deps.accountEmail?.notifyPasswordChanged(row),
      });
    } catch (error) {
      if (isAppError(error) && error.code === 'invalid_credentials') {
        this.passwordChangeFailed(context, auth.userId, 'password_changed_meanwhile');
      } else if (isAppError(error) && error.code === 'invalid_token') {
        this.passwordChangeFailed(context, auth.userId, 'session_ended');
      }
      throw error;
    }
  }

  private passwordChangeFailed(context: EventContext, userId: string, reason: string): void {
    this.deps.events.emit({
      ...context,
      type: 'password.changed',
      outcome: 'failure',
      actorId: userId,
      target: { type: 'user', id: userId },
      details: { reason },
    });
  }
}
