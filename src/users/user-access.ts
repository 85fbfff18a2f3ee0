import type { AuthContext } from '../access/authenticate.js';
import type { Permissions } from '../access/permissions.js';
import type { UserRow, UsersRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';

/** The permission that makes someone an administrator; at least one active holder must remain. */
export const ADMIN_PERMISSION = 'users:write';

/** The refusal to give a role, or act on its holders, by someone who lacks one of its permissions. */
export function widerRole(role: string): AppError {
  return new AppError(
    'forbidden',
    `The role "${role}" has permissions you do not hold: only someone who holds all of them may give it, or change, disable or delete its holders.`,
  );
}

/**
 * Object-level access control over users: who may see a user, whose role is too wide for the
 * caller to touch, and the last active administrator, who may not be taken away. "Not yours and
 * not allowed to see it" is 404, never 403, so ids of other users cannot be probed.
 */
export class UserAccess {
  constructor(
    private readonly deps: {
      repo: Pick<UsersRepository, 'findById'>;
      permissions: Permissions;
      events: SecurityEvents;
    },
  ) {}

  /**
   * The user `id` as `auth` may see it: itself always, anyone with users:read. `context` may be
   * given as a function: it is then only built for the event of a denial.
   * @throws AppError not_found otherwise, and for unknown ids alike
   */
  async visible(
    auth: AuthContext,
    id: string,
    context: EventContext | (() => EventContext),
  ): Promise<UserRow> {
    const isSelf = auth.userId === id;
    if (!isSelf && !auth.permissions.has('users:read')) {
      this.denied(auth, id, context, { status: 404, reason: 'not_owner' });
      throw new AppError('not_found', 'No user with this id.');
    }
    const row = await this.deps.repo.findById(id);
    if (!row) throw new AppError('not_found', 'No user with this id.');
    return row;
  }

  /**
   * Refuses (403, `access.denied` with reason wider_role) when `role` has a permission the caller
   * lacks: giving it, or acting on its holders, would be an escalation.
   */
  assertCovers(auth: AuthContext, id: string, role: string, context: EventContext): void {
    if (this.deps.permissions.covers(auth.permissions, role)) return;
    this.denied(auth, id, context, { status: 403, reason: 'wider_role', role });
    throw widerRole(role);
  }

  /** Records a refused access to user `id` (a 403, or an object-level 404). */
  denied(
    auth: AuthContext,
    id: string,
    context: EventContext | (() => EventContext),
    details: Record<string, string | number | string[]>,
  ): void {
    this.deps.events.emit({
      ...(typeof context === 'function' ? context() : context),
      type: 'access.denied',
      outcome: 'denied',
      actorId: auth.userId,
      target: { type: 'user', id },
      details,
    });
  }

  /**
   * Refuses to take user `id` out of the active administrators when it is the last one. Runs
   * inside {@link UsersRepository.withRolesLock} with that lock's `repo`, and reads the user
   * again there: what was read before the lock may have changed meanwhile (another
   * administrator demoted or disabled concurrently).
   * @throws AppError last_admin; not_found when the user is gone
   */
  async assertNotLastAdmin(id: string, repo: UsersRepository): Promise<void> {
    const target = await repo.findById(id);
    if (!target) throw new AppError('not_found', 'No user with this id.');
    if (target.disabled === 1 || !this.deps.permissions.of(target.role).has(ADMIN_PERMISSION))
      return;
    const roles = this.deps.permissions.rolesWith(ADMIN_PERMISSION);
    const remaining = await repo.countActiveInRoles(roles);
    if (remaining <= 1) {
      throw new AppError(
        'last_admin',
        'This would leave no active administrator. Promote another user first.',
      );
    }
  }
}
