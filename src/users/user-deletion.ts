import type { AuthContext } from '../access/authenticate.js';
import type { UserRow } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext } from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import type { UserAccess } from './user-access.js';
import type { UsersServiceDeps } from './users-service.js';

/** The deletion of an account by its owner or an administrator. */
export class UserDeletion {
  constructor(
    private readonly deps: Pick<UsersServiceDeps, 'repo' | 'sessions' | 'events' | 'notices'> & {
      access: UserAccess;
      now: () => number;
    },
  ) {}

  /**
   * Deletes user `id`, one `auth` may see ({@link UserAccess.visible}): itself, or with
   * users:write. Ends all its sessions.
   */
  async delete(auth: AuthContext, id: string, context: EventContext): Promise<void> {
    const { access } = this.deps;
    if (auth.userId !== id && !auth.permissions.has('users:write')) {
      access.denied(auth, id, context, { status: 403 });
      throw new AppError('forbidden', 'This needs the users:write permission.');
    }
    const actor = { ...context, actorId: auth.userId };
    // Disabled first: a sign-in that starts its session between ending the sessions and deleting
    // the row (which takes the sessions with it, unannounced) sees the flag and refuses, instead
    // of leaving a session this instance still believes active. Disabling is also the step that
    // takes an administrator out of the count, so it is the one the last-admin check guards.
    // Only while the caller's session is open (checked in the same transaction): a deletion
    // whose session ended while it was served (its owner ended it from another device, or the
    // administrator was disabled or logged out everywhere) is not made. The disabling is the
    // step that decides: the sessions ending and the row going follow from it.
    let deleted: UserRow | undefined;
    await unlessSessionEnded(
      () =>
        this.deps.repo.withRolesLock(
          async (repo) => {
            const current = await repo.findById(id);
            deleted = current;
            if (current && auth.userId !== id) access.assertCovers(auth, id, current.role, context);
            await access.assertNotLastAdmin(id, repo);
            await repo.update(id, { disabled: 1, updated_at: this.deps.now() });
          },
          { id: auth.sessionId, userId: auth.userId, role: auth.role },
        ),
      () =>
        this.deps.events.emit({
          ...actor,
          type: 'user.deleted',
          outcome: 'failure',
          target: { type: 'user', id },
          details: { reason: 'session_ended' },
        }),
    );
    await this.deps.sessions.endAll(id, 'user_deleted', actor);
    // A concurrent deletion of the same user got there first: it answers, and records, alone.
    if (!(await this.deps.repo.delete(id)))
      throw new AppError('not_found', 'No user with this id.');
    this.deps.events.emit({
      ...actor,
      type: 'user.deleted',
      outcome: 'success',
      target: { type: 'user', id },
    });
    if (deleted) {
      this.deps.notices?.notifySecurityChange(deleted, {
        kind: 'account_deleted',
        byAdmin: auth.userId !== id,
      });
    }
  }
}
