import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type ActingSession, type UserRow } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext } from '../security-events.js';
import { unlessSessionEnded } from '../tokens/session-ended.js';
import { normalizeEmail, normalizeName } from './normalize.js';
import { widerRole } from './user-access.js';
import type { ImportedUser } from './user-import.js';
import type { UserPasswords } from './user-passwords.js';
import type { UsersServiceDeps } from './users-service.js';

export interface NewUser {
  email: string;
  password: string;
  name: string;
  role: string;
}

/**
 * New accounts, each way one comes to be: registration or an administrator (with a password
 * that meets the policy), an external identity provider (no password), and an import from
 * another system (its hash as given). Every one is recorded as `user.created`.
 */
export class UserCreation {
  constructor(
    private readonly deps: Pick<UsersServiceDeps, 'repo' | 'hasher' | 'permissions' | 'events'> & {
      userPasswords: Pick<UserPasswords, 'assertStrongPassword'>;
      now: () => number;
    },
  ) {}

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
      /**
       * The administrator's session: the user is made only while it is open (the password hash
       * takes long enough for it to end meanwhile). 401 invalid_token otherwise.
       */
      session?: ActingSession;
    },
  ): Promise<UserRow> {
    const { via, grantor, session, ...eventContext } = context;
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
    await this.deps.userPasswords.assertStrongPassword(input.password, [email, name]);
    return this.insert(
      { email, name, role: input.role, passwordHash: await this.deps.hasher.hash(input.password) },
      false,
      eventContext,
      via === undefined ? {} : { via },
      !context.actorId && via === undefined,
      session,
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
    session?: ActingSession,
  ): Promise<UserRow> {
    const now = this.deps.now();
    let row: UserRow;
    try {
      row = await unlessSessionEnded(
        () =>
          this.deps.repo.insert(
            {
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
            },
            session,
          ),
        () =>
          this.deps.events.emit({
            ...context,
            type: 'user.created',
            outcome: 'failure',
            target: null,
            details: { role: user.role, reason: 'session_ended' },
          }),
      );
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
}
