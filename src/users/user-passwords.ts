import { checkPassword, EstimatorUnavailableError, type PasswordCheck } from '../crypto/index.js';
import type { UserRow, UserUpdate } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEventType } from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import type { SessionEndReason } from '../tokens/sessions.js';
import type { UsersServiceDeps } from './users-service.js';

/** A new password for an existing user, as {@link UserPasswords.writePassword} stores it. */
export interface PasswordWrite {
  /** changed: its user proved the current password; reset: without it (e-mailed link, operator). */
  kind: 'changed' | 'reset';
  actor: EventContext & { actorId: string | null };
  /** Where weak_password's errors point. */
  path: string;
  /** Runs after the checks, before the write; throwing aborts with nothing written. */
  beforeWrite?: () => Promise<void>;
  /**
   * Runs as soon as the password is stored, before the clean-up that follows (links, sessions):
   * the owner's notice, which must go out even if that clean-up fails.
   */
  afterWrite?: () => void;
  /** Extra, non-secret details of the event. */
  details?: Record<string, string>;
  /** A session that survives (the one a change was made from); every other one ends. */
  keepSessionId?: string;
  /**
   * Write only over this hash (the one the caller checked the current password against): a
   * reset that landed meanwhile must not be overwritten by a change proven with the old
   * password. invalid_credentials when it no longer matches. With `keepSessionId`, also only
   * while that session is open and the account enabled, until the write commits: invalid_token
   * (the session ended) otherwise.
   */
  expectedHash?: string;
}

/** What {@link UserPasswords.setPassword} takes besides the user and the password. */
export interface SetPasswordOptions {
  path?: string;
  beforeWrite?: () => Promise<void>;
  afterWrite?: () => void;
  details?: Record<string, string>;
}

const PASSWORD_WRITES = {
  changed: { event: 'password.changed', reason: 'password_changed' },
  reset: { event: 'password.reset', reason: 'password_reset' },
} as const satisfies Record<
  PasswordWrite['kind'],
  { event: SecurityEventType; reason: SessionEndReason }
>;

/** Users' passwords: the policy every new one meets, and the one path that stores them. */
export class UserPasswords {
  constructor(
    private readonly deps: Pick<
      UsersServiceDeps,
      'repo' | 'hasher' | 'sessions' | 'events' | 'passwords' | 'emailTokens' | 'loginThrottle'
    > & { now: () => number },
  ) {}

  /**
   * Applies the password policy (NIST SP 800-63B) with the user's own email and name as
   * penalised inputs.
   * @throws AppError weak_password; service_unavailable when the strength estimate cannot be
   *   made now (too many checks waiting)
   */
  async assertStrongPassword(
    password: string,
    userInputs: string[],
    path = '/body/password',
  ): Promise<void> {
    let result: PasswordCheck;
    try {
      result = await checkPassword(password, {
        minLength: this.deps.passwords.minLength,
        maxLength: this.deps.passwords.maxLength,
        userInputs,
      });
    } catch (error) {
      if (!(error instanceof EstimatorUnavailableError)) throw error;
      throw new AppError(
        'service_unavailable',
        'Passwords cannot be checked right now. Try again shortly.',
        { cause: error },
      );
    }
    if (!result.ok) {
      throw new AppError('weak_password', 'Choose a longer or less guessable password.', {
        errors: result.reasons.map((message) => ({ path, message })),
      });
    }
  }

  /**
   * Sets a user's password without the current one (a reset: an e-mailed link, or an operator).
   * Checks the password policy against the user's email and name (errors at `path`), hashes it,
   * calls `beforeWrite` (which may throw to abort: nothing is written then), writes the hash,
   * emits `password.reset`, and ends every session of the user (reason `password_reset`).
   * MFA is left as it is: a reset replaces one factor, not both.
   * @throws AppError not_found (no such user), weak_password, or whatever beforeWrite throws
   */
  async setPassword(
    userId: string,
    password: string,
    context: EventContext,
    options: SetPasswordOptions = {},
  ): Promise<UserRow> {
    const row = await this.deps.repo.findById(userId);
    if (!row) throw new AppError('not_found', 'No user with this id.');
    return this.writePassword(row, password, {
      kind: 'reset',
      // Nobody is signed in behind a reset: whoever holds the link, or an operator at a shell.
      actor: { ...context, actorId: null },
      path: options.path ?? '/body/newPassword',
      beforeWrite: options.beforeWrite,
      afterWrite: options.afterWrite,
      details: options.details,
    });
  }

  /**
   * Stores a new password for `row`: the one path of a reset ({@link setPassword}) and of a
   * change (AuthService.changePassword, once the current password is proven). The policy check
   * and the hash come before `beforeWrite` and the write; the event and the end of the sessions
   * after it. Returns the row as written.
   * @throws AppError weak_password; not_found when the user is gone; invalid_credentials when
   *   `expectedHash` is no longer stored; whatever beforeWrite throws
   */
  async writePassword(row: UserRow, password: string, write: PasswordWrite): Promise<UserRow> {
    await this.assertStrongPassword(password, [row.email, row.name], write.path);
    const passwordHash = await this.deps.hasher.hash(password);
    await write.beforeWrite?.();
    const patch = { password_hash: passwordHash, updated_at: this.deps.now() };
    const updated = await this.storeHash(row.id, patch, write);
    if (!updated) {
      const current =
        write.expectedHash === undefined ? undefined : await this.deps.repo.findById(row.id);
      if (current) throw new AppError('invalid_credentials', 'The current password is incorrect.');
      throw new AppError('not_found', 'No user with this id.');
    }
    write.afterWrite?.();
    // A reset link asked for before this password was set (perhaps by whoever the owner is
    // changing it against) must not undo it (OWASP Forgot Password Cheat Sheet). Nor may an
    // address change asked for with the old password: the notice of a change request tells an
    // owner who did not ask for it to change the password, and that must stop the change.
    await this.deps.emailTokens?.deleteForUser(row.id, 'password_reset');
    await this.deps.emailTokens?.deleteForUser(row.id, 'email_change');
    if (write.kind === 'reset')
      await this.deps.loginThrottle?.afterPasswordReset(row.email, write.actor);
    const { event, reason } = PASSWORD_WRITES[write.kind];
    this.deps.events.emit({
      ...write.actor,
      type: event,
      outcome: 'success',
      target: { type: 'user', id: row.id },
      ...(write.details === undefined ? {} : { details: { ...write.details } }),
    });
    // Every session, refresh tokens included: a change or reset is often made for fear that the
    // old password is known, and a session opened with it must not outlive it.
    await this.deps.sessions.endAll(row.id, reason, write.actor, {
      exceptSessionId: write.keepSessionId,
    });
    return updated;
  }

  /**
   * Writes the new hash: over `expectedHash` only, when given, and then while `keepSessionId` is
   * open too. Undefined when the user is gone or the hash is no longer the expected one.
   * @throws AppError invalid_token when the session the change was proven in ended (or the
   *   account was disabled, which ends them all) while the new password was hashed: ending a
   *   session stops what it was doing, and an intruder's change must not outlive the owner's (or
   *   an administrator's) decision to end it, nor end the owner's sessions.
   */
  private async storeHash(
    userId: string,
    patch: UserUpdate,
    write: PasswordWrite,
  ): Promise<UserRow | undefined> {
    if (write.expectedHash === undefined) return this.deps.repo.update(userId, patch);
    const session =
      write.keepSessionId === undefined ? undefined : { id: write.keepSessionId, userId };
    const { expectedHash } = write;
    // The refusal is recorded by the caller (the password change's failure event).
    return unlessSessionEnded(() =>
      this.deps.repo.updateIfPasswordHash(userId, expectedHash, patch, session),
    );
  }
}
