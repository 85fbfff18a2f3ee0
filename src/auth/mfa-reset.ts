import type { AuthContext } from '../access/authenticate.js';
import type { Permissions } from '../access/permissions.js';
import type { ActingSession, MfaRepository, UsersRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import type { Sessions } from '../tokens/sessions.js';
import type { AccountEmailService } from './account-email-service.js';

export interface MfaResetDeps {
  repo: MfaRepository;
  users: UsersRepository;
  events: SecurityEvents;
  /** Ends every session of the user whose MFA is reset. */
  sessions: Pick<Sessions, 'endAll'>;
  /** An administrator resets only the MFA of users whose role's permissions it holds all of. */
  permissions?: Pick<Permissions, 'covers'> | undefined;
  /** Tells owners by e-mail when how their account signs in changes; unset without e-mail. */
  notices?: Pick<AccountEmailService, 'notifySecurityChange'> | undefined;
  now: () => number;
}

/**
 * An administrator turns MFA off for a user who lost both the authenticator and the recovery
 * codes: account recovery, so every session of the user ends with it.
 */
export class MfaReset {
  constructor(private readonly deps: MfaResetDeps) {}

  /**
   * `DELETE /api/v1/users/:id/mfa`: an administrator (users:write, checked by the route) turns
   * MFA off for another user who lost both the authenticator and the recovery codes. Not for
   * oneself: that takes the password and a code (`disable`), which a stolen token does not have.
   */
  async byAdmin(auth: AuthContext, userId: string, context: EventContext): Promise<void> {
    if (userId === auth.userId) {
      throw this.refused(
        auth,
        userId,
        context,
        { reason: 'own_account' },
        'Turn your own MFA off with POST /api/v1/auth/mfa/disable (password and a code).',
      );
    }
    const target = await this.deps.users.findById(userId);
    if (!target) throw new AppError('not_found', 'No user with this id.');
    // Taking a factor off a wider role's holder is a step towards taking over that role.
    if (this.deps.permissions && !this.deps.permissions.covers(auth.permissions, target.role)) {
      throw this.refused(
        auth,
        userId,
        context,
        { reason: 'wider_role', role: target.role },
        `The role "${target.role}" has permissions you do not hold: only someone who holds all of them may reset its holders' MFA.`,
      );
    }
    const session = { id: auth.sessionId, userId: auth.userId, role: auth.role };
    // The administrator's session ended (a logout, the account disabled or demoted) while the
    // reset was served: what it asked for is not done, as for any request of an ended session.
    const wasOn = await unlessSessionEnded(
      () => this.reset(userId, { ...context, actorId: auth.userId }, session),
      () =>
        this.deps.events.emit({
          ...context,
          type: 'mfa.disabled',
          outcome: 'failure',
          actorId: auth.userId,
          target: { type: 'user', id: userId },
          details: { by: 'admin_reset', reason: 'session_ended' },
        }),
    );
    if (!wasOn) throw new AppError('mfa_not_enabled', 'MFA is not on for this user.');
  }

  /**
   * An administrator's reset for a user who lost both the authenticator and the recovery codes
   * (`bulwark user mfa-reset`, `DELETE /api/v1/users/:id/mfa`). True when MFA was on. With
   * `session` (the administrator's), only while it is open: otherwise SessionEndedError.
   */
  async reset(
    userId: string,
    context: EventContext & { actorId?: string | null },
    session?: ActingSession,
  ): Promise<boolean> {
    const wasOn = await this.deps.repo.remove(userId, this.deps.now(), session);
    if (wasOn) {
      this.deps.events.emit({
        ...context,
        type: 'mfa.disabled',
        outcome: 'success',
        target: { type: 'user', id: userId },
        details: { by: 'admin_reset' },
      });
      // A reset is account recovery: whoever asked for it signs in afresh, and no session
      // started before it (perhaps on the lost device) lives on.
      await this.deps.sessions.endAll(userId, 'mfa_reset', context);
      const { notices } = this.deps;
      if (notices) {
        const user = await this.deps.users.findById(userId);
        if (user) notices.notifySecurityChange(user, { kind: 'mfa_reset' });
      }
    }
    return wasOn;
  }

  /** Records an administrator's refused reset (`access.denied`) and returns its 403 to throw. */
  private refused(
    auth: AuthContext,
    userId: string,
    context: EventContext,
    details: Record<string, string>,
    message: string,
  ): AppError {
    this.deps.events.emit({
      ...context,
      type: 'access.denied',
      outcome: 'denied',
      actorId: auth.userId,
      target: { type: 'user', id: userId },
      details: { ...details, status: 403 },
    });
    return new AppError('forbidden', message);
  }
}
