import type { AuthContext } from '../access/authenticate.js';
import type { Permissions } from '../access/permissions.js';
import type { Config } from '../config/index.js';
import type { DecryptionError, FieldCipher, PasswordHasher } from '../crypto/index.js';
import type { EmailTokensRepository, UserRow, UsersRepository } from '../db/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { Sessions } from '../tokens/sessions.js';
import type { UpdateUser, User } from './schema.js';
import { UserAccess } from './user-access.js';
import { UserCreation, type NewUser } from './user-creation.js';
import { UserDeletion } from './user-deletion.js';
import { UserEdits } from './user-edits.js';
import type { ImportedUser } from './user-import.js';
import { listUsers, type UserListQuery, type UserPage } from './user-list.js';
import { UserPasswords, type PasswordWrite, type SetPasswordOptions } from './user-passwords.js';
import { UserView } from './user-view.js';
import type { AccountEmailService } from '../auth/account-email-service.js';

export type { NewUser } from './user-creation.js';
export type { PasswordWrite } from './user-passwords.js';

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
  /** Tells owners by e-mail that their account was deleted; unset without e-mail. */
  notices?: Pick<AccountEmailService, 'notifySecurityChange'> | undefined;
  now?: () => number;
}

/**
 * Users: creation with the password policy, reads and edits with object-level access control,
 * and the administrative functions. "Not yours and not allowed to see it" is 404, never 403, so
 * ids of other users cannot be probed. One entry point for the routes, the CLI and the other
 * capabilities; each concern lives in its own module (user-view, user-passwords, user-creation,
 * user-access, user-list, user-edits, user-deletion).
 */
export class UsersService {
  private readonly userView: UserView;
  private readonly passwords: UserPasswords;
  private readonly creation: UserCreation;
  private readonly access: UserAccess;
  private readonly edits: UserEdits;
  private readonly deletion: UserDeletion;

  constructor(private readonly deps: UsersServiceDeps) {
    const now = deps.now ?? Date.now;
    this.userView = new UserView(deps.cipher);
    this.passwords = new UserPasswords({ ...deps, now });
    this.creation = new UserCreation({ ...deps, userPasswords: this.passwords, now });
    this.access = new UserAccess(deps);
    this.edits = new UserEdits({ ...deps, access: this.access, now });
    this.deletion = new UserDeletion({ ...deps, access: this.access, now });
  }

  /** The public view of a stored user; decrypts the phone number. */
  view(row: UserRow): User {
    return this.userView.view(row);
  }

  /** {@link UserView.listView}: a row of a list, shown even when its phone no longer decrypts. */
  listView(row: UserRow, onUnreadable: (userId: string, error: DecryptionError) => void): User {
    return this.userView.listView(row, onUnreadable);
  }

  /** {@link UserPasswords.assertStrongPassword}: the password policy (NIST SP 800-63B). */
  assertStrongPassword(password: string, userInputs: string[], path?: string): Promise<void> {
    return this.passwords.assertStrongPassword(password, userInputs, path);
  }

  /** {@link UserPasswords.setPassword}: a reset, without the current password. */
  setPassword(
    userId: string,
    password: string,
    context: EventContext,
    options?: SetPasswordOptions,
  ): Promise<UserRow> {
    return this.passwords.setPassword(userId, password, context, options);
  }

  /** {@link UserPasswords.writePassword}: the one path that stores a new password. */
  writePassword(row: UserRow, password: string, write: PasswordWrite): Promise<UserRow> {
    return this.passwords.writePassword(row, password, write);
  }

  /** {@link UserCreation.create}: registration, an administrator, or `bulwark user create`. */
  create(input: NewUser, context: Parameters<UserCreation['create']>[1]): Promise<UserRow> {
    return this.creation.create(input, context);
  }

  /** {@link UserCreation.createExternal}: an account of an external identity provider. */
  createExternal(
    input: Parameters<UserCreation['createExternal']>[0],
    context: EventContext,
  ): Promise<UserRow> {
    return this.creation.createExternal(input, context);
  }

  /** {@link UserCreation.createImported}: an account moved from another system. */
  createImported(user: ImportedUser, context: EventContext): Promise<UserRow> {
    return this.creation.createImported(user, context);
  }

  /**
   * The user `id` as `auth` may see it: itself always, anyone with users:read. `context` may be
   * given as a function: it is then only built for the event of a denial.
   * @throws AppError not_found otherwise, and for unknown ids alike
   */
  visible(
    auth: AuthContext,
    id: string,
    context: EventContext | (() => EventContext),
  ): Promise<UserRow> {
    return this.access.visible(auth, id, context);
  }

  /** {@link listUsers}: a page of users and the cursor of the next. */
  list(query: UserListQuery): Promise<UserPage> {
    return listUsers(this.deps.repo, query);
  }

  /**
   * Edits a user ({@link UserEdits.update}). Name and phone: the user itself or users:write.
   * Role and disabled: users:write only (403 for anyone else, even on themselves).
   */
  async update(
    auth: AuthContext,
    id: string,
    patch: UpdateUser,
    context: EventContext,
  ): Promise<UserRow> {
    return this.edits.update(auth, await this.visible(auth, id, context), patch, context);
  }

  /** Deletes a user (itself or with users:write) and ends all its sessions. */
  async delete(auth: AuthContext, id: string, context: EventContext): Promise<void> {
    await this.visible(auth, id, context);
    await this.deletion.delete(auth, id, context);
  }
}
