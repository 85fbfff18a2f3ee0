import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../access/authenticate.js';
import type { Permissions } from '../access/permissions.js';
import type { Config } from '../config/index.js';
import {
  checkPassword,
  DecryptionError,
  EstimatorUnavailableError,
  type FieldCipher,
  type PasswordCheck,
  type PasswordHasher,
} from '../crypto/index.js';
import {
  ENCRYPTED_COLUMNS,
  fieldContext,
  isUniqueViolation,
  type EmailTokensRepository,
  type UserRow,
  type UsersRepository,
  type UserUpdate,
} from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents, SecurityEventType } from '../security-events.js';
import { BoundedCache } from '../tokens/bounded-cache.js';
import type { SessionEndReason, Sessions } from '../tokens/sessions.js';
import { canonicalEmail, normalizeEmail, normalizeName, normalizePhone } from './normalize.js';
import type { UpdateUser, User } from './schema.js';
import type { ImportedUser } from './user-import.js';

/** The permission that makes someone an administrator; at least one active holder must remain. */
const ADMIN_PERMISSION = 'users:write';

export interface UsersServiceDeps {
  repo: UsersRepository;
  hasher: PasswordHasher;
  cipher: FieldCipher;
  sessions: Sessions;
  permissions: Permissions;
  events: SecurityEvents;
  passwords: Config['passwords'];
  /**
   * The e-mailed links: a password written any way ends the outstanding reset and address change
   * links; disabling the account ends them all.
   */
  emailTokens?: Pick<EmailTokensRepository, 'deleteForUser' | 'deleteAllForUser'>;
  /** The failed-login throttle, told of each reset (its counts of the old password end). */
  loginThrottle?: { afterPasswordReset(email: string, context: EventContext): Promise<void> };
  now?: () => number;
}

export interface NewUser {
  email: string;
  password: string;
  name: string;
  role: string;
}

/** A new password for an existing user, as {@link UsersService.writePassword} stores it. */
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
   * password. invalid_credentials when it no longer matches.
   */
  expectedHash?: string;
}

const PASSWORD_WRITES = {
  changed: { event: 'password.changed', reason: 'password_changed' },
  reset: { event: 'password.reset', reason: 'password_reset' },
} as const satisfies Record<
  PasswordWrite['kind'],
  { event: SecurityEventType; reason: SessionEndReason }
>;

function phoneContext(id: string) {
  return fieldContext(ENCRYPTED_COLUMNS.usersPhone, id);
}

const isoTimes = new BoundedCache<number, string>(1_024);

/**
 * Epoch ms as ISO 8601. The same few rows are read again and again (every /users/me), and
 * formatting a date costs more than a map lookup, so recent answers are kept.
 */
function isoTime(ms: number): string {
  let iso = isoTimes.get(ms);
  if (iso === undefined) {
    iso = new Date(ms).toISOString();
    isoTimes.set(ms, iso);
  }
  return iso;
}

/** Encodes the keyset position of a user for `nextCursor`. Opaque to clients. */
function encodeCursor(row: UserRow): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string' &&
      value[1].length <= 64 &&
      // No id holds U+0000, which PostgreSQL's text type refuses outright (a 500 there).
      !value[1].includes('\u0000')
    ) {
      return { createdAt: value[0] as number, id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', 'The request does not match the expected schema.', {
    errors: [{ path: '/querystring/cursor', message: 'is not a cursor this server issued' }],
  });
}

function widerRole(role: string): AppError {
  return new AppError(
    'forbidden',
    `The role "${role}" has permissions you do not hold: only someone who holds all of them may give it, or change, disable or delete its holders.`,
  );
}

/**
 * Users: creation with the password policy, reads and edits with object-level access control,
 * and the administrative functions. "Not yours and not allowed to see it" is 404, never 403, so
 * ids of other users cannot be probed.
 */
export class UsersService {
  private readonly now: () => number;

  constructor(private readonly deps: UsersServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The public view of a stored user; decrypts the phone number. */
  view(row: UserRow): User {
    return {
      id: row.id,
      email: row.email,
      name: row.name,
      role: row.role,
      phone:
        row.phone_enc === null
          ? null
          : this.deps.cipher.decrypt(row.phone_enc, phoneContext(row.id)),
      emailVerified: row.email_verified === 1,
      mfaEnabled: row.mfa_enabled === 1,
      createdAt: isoTime(row.created_at),
      updatedAt: isoTime(row.updated_at),
    };
  }

  /**
   * {@link view} for a row of a list: a phone number that no longer decrypts (an envelope altered,
   * moved to another row, or under a removed key version) is shown as null and reported through
   * `onUnreadable`, instead of failing the whole page: one bad row must not keep an
   * administrator from every user listed with it. Reading that user alone still fails (500).
   */
  listView(row: UserRow, onUnreadable: (userId: string, error: DecryptionError) => void): User {
    try {
      return this.view(row);
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      onUnreadable(row.id, error);
      return this.view({ ...row, phone_enc: null });
    }
  }

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
    options: {
      path?: string;
      beforeWrite?: () => Promise<void>;
      afterWrite?: () => void;
      details?: Record<string, string>;
    } = {},
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
    const patch = { password_hash: passwordHash, updated_at: this.now() };
    const updated =
      write.expectedHash === undefined
        ? await this.deps.repo.update(row.id, patch)
        : await this.deps.repo.updateIfPasswordHash(row.id, write.expectedHash, patch);
    if (!updated) {
      if (write.expectedHash !== undefined && (await this.deps.repo.findById(row.id))) {
        throw new AppError('invalid_credentials', 'The current password is incorrect.');
      }
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
    await this.deps.sessions.endAll(row.id, reason, write.actor, write.keepSessionId);
    return updated;
  }

  /**
   * `context.via: 'cli'` marks an operator's `bulwark user create`: no actor, and still not a
   * self-registration (the audit trail must not show an admin who appears to have signed up).
   */
  async create(
    input: NewUser,
    context: EventContext & {
      actorId?: string | null;
      via?: 'cli';
      /** The creating administrator's permissions: the role given must not exceed them. */
      grantor?: ReadonlySet<string>;
    },
  ): Promise<UserRow> {
    const { via, grantor, ...eventContext } = context;
    const email = normalizeEmail(input.email);
    const name = normalizeName(input.name);
    if (!this.deps.permissions.isRole(input.role)) {
      throw new AppError('validation_failed', 'The request does not match the expected schema.', {
        errors: [
          {
            path: '/body/role',
            message: `must be one of ${this.deps.permissions.roles().join(', ')}`,
          },
        ],
      });
    }
    if (grantor !== undefined && !this.deps.permissions.covers(grantor, input.role)) {
      this.deps.events.emit({
        ...eventContext,
        type: 'access.denied',
        outcome: 'denied',
        target: null,
        details: { reason: 'wider_role', role: input.role, status: 403 },
      });
      throw widerRole(input.role);
    }
    await this.assertStrongPassword(input.password, [email, name]);
    return this.insert(
      { email, name, role: input.role, passwordHash: await this.deps.hasher.hash(input.password) },
      false,
      eventContext,
      via === undefined ? {} : { via },
      !context.actorId && via === undefined,
    );
  }

  /**
   * Creates an account that signs in through an external identity provider only: no password.
   * `emailVerified`: whether the provider proved the address and is trusted to (the caller
   * decides). The role must exist.
   * @throws AppError email_taken when the email belongs to another account
   */
  async createExternal(
    input: { email: string; name: string; role: string; emailVerified: boolean; via: string },
    context: EventContext,
  ): Promise<UserRow> {
    if (!this.deps.permissions.isRole(input.role)) throw new Error(`unknown role ${input.role}`);
    return this.insert(
      {
        email: normalizeEmail(input.email),
        name: normalizeName(input.name),
        role: input.role,
        passwordHash: null,
      },
      input.emailVerified,
      context,
      { via: input.via },
      true,
    );
  }

  /**
   * Creates an account moved from another system (`bulwark user import`, checked by
   * parseUserImport): its password hash as given (bcrypt or argon2, replaced by argon2id at its
   * first login), or none. An operator's act: no actor, and not a self-registration.
   * @throws AppError email_taken when the email belongs to another account
   */
  async createImported(user: ImportedUser, context: EventContext): Promise<UserRow> {
    if (!this.deps.permissions.isRole(user.role)) throw new Error(`unknown role ${user.role}`);
    const { email, name, role, passwordHash } = user;
    return this.insert(
      { email, name, role, passwordHash },
      user.emailVerified,
      context,
      { via: 'import' },
      false,
    );
  }

  private async insert(
    user: { email: string; name: string; role: string; passwordHash: string | null },
    emailVerified: boolean,
    context: EventContext & { actorId?: string | null },
    details: Record<string, string>,
    selfRegistered: boolean,
  ): Promise<UserRow> {
    const now = this.now();
    let row: UserRow;
    try {
      row = await this.deps.repo.insert({
        id: randomUUID(),
        email: user.email,
        name: user.name,
        password_hash: user.passwordHash,
        role: user.role,
        phone_enc: null,
        email_verified: emailVerified ? 1 : 0,
        mfa_enabled: 0,
        disabled: 0,
        created_at: now,
        updated_at: now,
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('email_taken', 'An account with this email already exists.');
      throw error;
    }
    this.deps.events.emit({
      ...context,
      type: 'user.created',
      outcome: 'success',
      target: { type: 'user', id: row.id },
      details: { role: row.role, selfRegistered, ...details },
    });
    return row;
  }

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

  async list(query: { limit?: number; cursor?: string; role?: string; email?: string }): Promise<{
    items: UserRow[];
    nextCursor: string | null;
  }> {
    const limit = query.limit ?? 20;
    const rows = await this.deps.repo.list({
      limit: limit + 1,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      role: query.role,
      email: query.email === undefined ? undefined : canonicalEmail(query.email),
    });
    const items = rows.slice(0, limit);
    return {
      items,
      nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!) : null,
    };
  }

  /**
   * Edits a user. Name and phone: the user itself or users:write. Role and disabled: users:write
   * only (403 for anyone else, even on themselves).
   */
  async update(
    auth: AuthContext,
    id: string,
    patch: UpdateUser,
    context: EventContext,
  ): Promise<UserRow> {
    const target = await this.visible(auth, id, context);
    const isSelf = auth.userId === id;
    const canWrite = auth.permissions.has('users:write');
    const privileged = patch.role !== undefined || patch.disabled !== undefined;
    if ((privileged && !canWrite) || (!isSelf && !canWrite)) {
      this.denied(auth, id, context, { status: 403, fields: Object.keys(patch) });
      throw new AppError(
        'forbidden',
        privileged
          ? 'Only administrators may change role or disabled.'
          : 'This needs the users:write permission.',
      );
    }

    if (privileged) {
      this.assertCovers(auth, id, target.role, context);
      if (patch.role !== undefined) this.assertCovers(auth, id, patch.role, context);
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
        ? await this.deps.repo.withRolesLock(async (repo) => {
            const current = await repo.findById(id);
            if (!current) return undefined;
            // Promoted meanwhile beyond what the caller holds: no longer theirs to change.
            this.assertCovers(auth, id, current.role, context);
            fromRole = current.role;
            // Already so (or someone else made the same change meanwhile): nothing to record.
            if (changes.role === current.role) delete changes.role;
            if (changes.disabled === current.disabled) delete changes.disabled;
            if (Object.keys(changes).length === 0) return current;
            const demotes =
              (changes.role !== undefined &&
                !this.deps.permissions.of(changes.role).has(ADMIN_PERMISSION)) ||
              changes.disabled === 1;
            if (demotes) await this.assertNotLastAdmin(id, repo);
            return repo.update(id, { ...changes, updated_at: this.now() });
          })
        : await this.deps.repo.update(id, { ...changes, updated_at: this.now() });
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
      // Tokens carry the role: end the sessions so no token keeps the old one.
      await this.deps.sessions.endAll(id, 'revoked', actor);
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

  /** Deletes a user (itself or with users:write) and ends all its sessions. */
  async delete(auth: AuthContext, id: string, context: EventContext): Promise<void> {
    await this.visible(auth, id, context);
    if (auth.userId !== id && !auth.permissions.has('users:write')) {
      this.denied(auth, id, context, { status: 403 });
      throw new AppError('forbidden', 'This needs the users:write permission.');
    }
    const actor = { ...context, actorId: auth.userId };
    // Disabled first: a sign-in that starts its session between ending the sessions and deleting
    // the row (which takes the sessions with it, unannounced) sees the flag and refuses, instead
    // of leaving a session this instance still believes active. Disabling is also the step that
    // takes an administrator out of the count, so it is the one the last-admin check guards.
    await this.deps.repo.withRolesLock(async (repo) => {
      const current = await repo.findById(id);
      if (current && auth.userId !== id) this.assertCovers(auth, id, current.role, context);
      await this.assertNotLastAdmin(id, repo);
      await repo.update(id, { disabled: 1, updated_at: this.now() });
    });
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
  }

  /** Records a refused access to user `id` (a 403, or an object-level 404). */
  /**
   * Refuses (403, `access.denied` with reason wider_role) when `role` has a permission the caller
   * lacks: giving it, or acting on its holders, would be an escalation.
   */
  private assertCovers(auth: AuthContext, id: string, role: string, context: EventContext): void {
    if (this.deps.permissions.covers(auth.permissions, role)) return;
    this.denied(auth, id, context, { status: 403, reason: 'wider_role', role });
    throw widerRole(role);
  }

  private denied(
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
  private async assertNotLastAdmin(id: string, repo: UsersRepository): Promise<void> {
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
