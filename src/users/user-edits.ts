import type { AuthContext } from '../access/authenticate.js';
import type { UserRow, UserUpdate } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext } from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import { normalizeName, normalizePhone } from './normalize.js';
import type { UpdateUser } from './schema.js';
import { ADMIN_PERMISSION, type UserAccess } from './user-access.js';
import { phoneContext } from './user-view.js';
import type { UsersServiceDeps } from './users-service.js';

/**
 * Edits of an account by its owner or an administrator: name and phone, and the administrative
 * role and disabled flag, which never take away the last active administrator.
 */
export class UserEdits {
  constructor(
    private readonly deps: Pick<
      UsersServiceDeps,
      'repo' | 'cipher' | 'sessions' | 'permissions' | 'events' | 'emailTokens'
    > & { access: UserAccess; now: () => number },
  ) {}

  /**
   * Edits `target`, a user `auth` may see ({@link UserAccess.visible}). Name and phone: the user
   * itself or users:write. Role and disabled: users:write only (403 for anyone else, even on
   * themselves).
   */
  async update(
    auth: AuthContext,
    target: UserRow,
    patch: UpdateUser,
    context: EventContext,
  ): Promise<UserRow> {
    const { access } = this.deps;
    const { id } = target;
    const isSelf = auth.userId === id;
    const canWrite = auth.permissions.has('users:write');
    const privileged = patch.role !== undefined || patch.disabled !== undefined;
    if ((privileged && !canWrite) || (!isSelf && !canWrite)) {
      access.denied(auth, id, context, { status: 403, fields: Object.keys(patch) });
      throw new AppError(
        'forbidden',
        privileged
          ? 'Only administrators may change role or disabled.'
          : 'This needs the users:write permission.',
      );
    }

    if (privileged) {
      access.assertCovers(auth, id, target.role, context);
      if (patch.role !== undefined) access.assertCovers(auth, id, patch.role, context);
    }

    const changes: UserUpdate = {};
    if (patch.name !== undefined) changes.name = normalizeName(patch.name);
    if (patch.phone !== undefined) {
      changes.phone_enc =
        patch.phone === null
          ? null
          : this.deps.cipher.encrypt(normalizePhone(patch.phone), phoneContext(id));
    }
    // Role and disabled are compared with the user's current values under the role lock, not
    // with `target`: another administrator may have changed them since, and a change that looks
    // like a no-op against a stale read would be silently lost.
    if (patch.role !== undefined) {
      if (patch.role !== target.role && !this.deps.permissions.isRole(patch.role)) {
        throw new AppError('validation_failed', 'The request does not match the expected schema.', {
          errors: [
            {
              path: '/body/role',
              message: `must be one of ${this.deps.permissions.roles().join(', ')}`,
            },
          ],
        });
      }
      changes.role = patch.role;
    }
    if (patch.disabled !== undefined) changes.disabled = patch.disabled ? 1 : 0;
    if (Object.keys(changes).length === 0) return target;
    // The role the user had when the change was made, for the audit trail: read again under the
    // lock, since another administrator may have changed it since `target` was read.
    let fromRole = target.role;
    const updated =
      changes.role !== undefined || changes.disabled !== undefined
        ? await this.privileged(auth, id, patch, context, () =>
            this.deps.repo.withRolesLock(
              async (repo) => {
                const current = await repo.findById(id);
                if (!current) return undefined;
                // Promoted meanwhile beyond what the caller holds: no longer theirs to change.
                access.assertCovers(auth, id, current.role, context);
                fromRole = current.role;
                // Already so (or someone else made the same change meanwhile): nothing to record.
                if (changes.role === current.role) delete changes.role;
                if (changes.disabled === current.disabled) delete changes.disabled;
                if (Object.keys(changes).length === 0) return current;
                const demotes =
                  (changes.role !== undefined &&
                    !this.deps.permissions.of(changes.role).has(ADMIN_PERMISSION)) ||
                  changes.disabled === 1;
                if (demotes) await access.assertNotLastAdmin(id, repo);
                return repo.update(id, { ...changes, updated_at: this.deps.now() });
              },
              { id: auth.sessionId, userId: auth.userId, role: auth.role },
            ),
          )
        : await this.deps.repo.update(id, { ...changes, updated_at: this.deps.now() });
    if (!updated) throw new AppError('not_found', 'No user with this id.');

    const actor = { ...context, actorId: auth.userId };
    const fields = Object.keys(patch).filter((f) => f !== 'role' && f !== 'disabled');
    if (fields.length > 0) {
      this.deps.events.emit({
        ...actor,
        type: 'user.updated',
        outcome: 'success',
        target: { type: 'user', id },
        details: { fields },
      });
    }
    if (changes.role !== undefined) {
      this.deps.events.emit({
        ...actor,
        type: 'user.role_changed',
        outcome: 'success',
        target: { type: 'user', id },
        details: { from: fromRole, to: changes.role },
      });
      // Tokens carry the role: end the sessions so no token keeps the old one. A sign-in in
      // flight is kept: its exchange puts the new role in its tokens.
      await this.deps.sessions.endAll(id, 'revoked', actor, { signInsInFlight: 'keep' });
    }
    if (changes.disabled !== undefined) {
      this.deps.events.emit({
        ...actor,
        type: 'user.disabled',
        outcome: 'success',
        target: { type: 'user', id },
        details: { disabled: changes.disabled === 1 },
      });
      if (changes.disabled === 1) {
        // The links still out are checked against the flag when used, but would work again once
        // the account is enabled: an administrator's decision to disable ends them for good.
        await this.deps.emailTokens?.deleteAllForUser(id);
        await this.deps.sessions.endAll(id, 'user_disabled', actor);
      }
    }
    return updated;
  }

  /**
   * Runs a role or disabled change, made on the caller's session's say-so: one whose session
   * ended, or whose account was disabled, while it was served (the administrator logged out
   * everywhere, or was disabled by another) is not made. Recorded as the failure of each event
   * the change would have made, reason `session_ended`; 401 invalid_token.
   */
  private async privileged<T>(
    auth: AuthContext,
    id: string,
    patch: UpdateUser,
    context: EventContext,
    change: () => Promise<T>,
  ): Promise<T> {
    return unlessSessionEnded(change, () => {
      const types = [
        ...(Object.keys(patch).some((f) => f !== 'role' && f !== 'disabled')
          ? (['user.updated'] as const)
          : []),
        ...(patch.role !== undefined ? (['user.role_changed'] as const) : []),
        ...(patch.disabled !== undefined ? (['user.disabled'] as const) : []),
      ];
      for (const type of types) {
        this.deps.events.emit({
          ...context,
          type,
          outcome: 'failure',
          actorId: auth.userId,
          target: { type: 'user', id },
          details: { reason: 'session_ended' },
        });
      }
    });
  }
}
