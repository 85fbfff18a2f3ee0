import type { Kysely } from 'kysely';
import { sql } from './kysely.js';
import type { DialectName } from './database.js';
import { parameter, prepareRead, type PreparedRead } from './prepared-read.js';
import type { Database, NewUserRow, UserRow, UserUpdate } from './types.js';
import { holdOpenSession, SessionEndedError, type ActingSession } from './open-session.js';

/** Position of the last row of a page; the next page starts strictly after it. */
export interface UserCursor {
  createdAt: number;
  id: string;
}

export interface ListUsersOptions {
  /** Page size, 1 to {@link MAX_USERS_PAGE}. */
  limit: number;
  after?: UserCursor | undefined;
  role?: string | undefined;
  /** Exact match on the normalised (trimmed, NFC, lower-case) email. */
  email?: string | undefined;
  /** Only disabled accounts (true) or only enabled ones (false). */
  disabled?: boolean | undefined;
}

/** Largest page `list` returns: a caller bug must not turn into a full-table read. */
export const MAX_USERS_PAGE = 1_000;

/**
 * True for a string no email column holds: U+0000. Every stored email went through
 * normalizeEmail, which refuses control characters, and PostgreSQL's text type cannot hold NUL at
 * all: it refuses such a parameter outright ("invalid byte sequence"), which turned a login or a
 * list filter with a NUL in the email into a 500 there, and a plain miss on SQLite.
 */
const holdsNul = (value: string): boolean => value.includes('\u0000');

/** The PostgreSQL advisory lock that serialises changes to who holds a role (see withRolesLock). */
const ROLES_LOCK_ID = 4_201_753_002;

/** Reads and writes the `users` table. Rows go in and out as stored; services map them. */
export class UsersRepository {
  // The reads on every authenticated request and every login: compiled once, not per call.
  private readonly byId: PreparedRead<[id: string], UserRow>;
  private readonly byEmail: PreparedRead<[email: string], UserRow>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {
    const users = db.selectFrom('users').selectAll();
    this.byId = prepareRead(db, users.where('id', '=', parameter<string>(0)));
    this.byEmail = prepareRead(db, users.where('email', '=', parameter<string>(0)));
  }

  /**
   * Runs `fn` in a transaction that holds the role-holders lock, so a check such as "another
   * active administrator remains" and the change it guards happen as one step: two changes that
   * each counted before the other's commit could otherwise both pass and leave nobody. Every
   * change that can take a user out of a role's active holders (demote, disable, delete) runs in
   * it. PostgreSQL: a transaction-scoped advisory lock (statements after it see every commit made
   * under it). SQLite: BEGIN IMMEDIATE, the database write lock taken before the first read.
   * With `session` (the one the change is made on the say-so of), it commits only while that
   * session is open and its account enabled (and, with `session.role`, still of that role):
   * otherwise SessionEndedError, and nothing changes.
   * The account is read first, under the lock that every disabling takes (a change may disable
   * that very account: deleting oneself); the session is held last (see holdOpenSession).
   */
  async withRolesLock<T>(
    fn: (repo: UsersRepository) => Promise<T>,
    session?: ActingSession,
  ): Promise<T> {
    if (this.dialect === 'postgres') {
      return this.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${ROLES_LOCK_ID})`.execute(trx);
        const repo = new UsersRepository(trx, this.dialect);
        if (session) await repo.assertEnabled(session);
        const result = await fn(repo);
        if (session) await holdOpenSession(trx, session, { whileEnabled: false });
        return result;
      });
    }
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      let result: T;
      try {
        const repo = new UsersRepository(conn, this.dialect);
        if (session) await repo.assertEnabled(session);
        result = await fn(repo);
        if (session) await holdOpenSession(conn, session, { whileEnabled: false });
      } catch (error) {
        await sql`rollback`.execute(conn);
        throw error;
      }
      await sql`commit`.execute(conn);
      return result;
    });
  }

  /**
   * SessionEndedError unless the session's account exists, is enabled and (with `session.role`)
   * still holds that role.
   */
  private async assertEnabled(session: ActingSession): Promise<void> {
    const row = await this.findById(session.userId);
    if (!row || row.disabled !== 0 || (session.role !== undefined && row.role !== session.role))
      throw new SessionEndedError(session.id);
  }

  /**
   * Inserts a user; a taken email rejects with a unique violation (see isUniqueViolation). With
   * `session` (an administrator's), only while that session is open and its account enabled:
   * otherwise SessionEndedError, and no user is made.
   */
  async insert(row: NewUserRow, session?: ActingSession): Promise<UserRow> {
    if (!session) {
      return this.db.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow();
    }
    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('users')
        .values(row)
        .returningAll()
        .executeTakeFirstOrThrow();
      await holdOpenSession(trx, session);
      return inserted;
    });
  }

  findById(id: string): Promise<UserRow | undefined> {
    return this.byId.first(id);
  }

  /** Looks up by the normalised email; callers normalise first. */
  findByEmail(email: string): Promise<UserRow | undefined> {
    if (holdsNul(email)) return Promise.resolve(undefined);
    return this.byEmail.first(email);
  }

  /**
   * Applies `patch` (undefined fields are left alone) and returns the updated row, or undefined
   * when no such user exists. `updated_at` is the caller's to set, like every other time.
   */
  async update(id: string, patch: UserUpdate): Promise<UserRow | undefined> {
    if (Object.values(patch).every((value) => value === undefined)) return this.findById(id);
    return this.db
      .updateTable('users')
      .set(patch)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Replaces the password hash only while it is still `expected`: a rehash on login must never
   * write back a hash of the old password over one a password change stored meanwhile. True if
   * it replaced it.
   */
  async replacePasswordHash(id: string, expected: string, next: string): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ password_hash: next })
      .where('id', '=', id)
      .where('password_hash', '=', expected)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Applies `patch` only while the stored password hash is still `expected`: a password change
   * checked the current password against that hash, and must not write over a reset (or another
   * change) stored meanwhile. The row as written, or undefined when gone or changed. With
   * `session` (the one the change is made from), it commits only while that session is open and
   * its account enabled: a change made from a session that ended meanwhile (a logout, the owner
   * ending it from another device, an administrator disabling the account) throws
   * SessionEndedError, and nothing changes. Held to commit (holdOpenSession): a check inside the
   * update's own WHERE read the session as of the statement's start, so an end committed while
   * the update waited for the users row was missed on PostgreSQL.
   */
  async updateIfPasswordHash(
    id: string,
    expected: string,
    patch: UserUpdate,
    session?: ActingSession,
  ): Promise<UserRow | undefined> {
    const update = (db: Kysely<Database>) =>
      db
        .updateTable('users')
        .set(patch)
        .where('id', '=', id)
        .where('password_hash', '=', expected)
        .returningAll()
        .executeTakeFirst();
    if (!session) return update(this.db);
    return this.db.transaction().execute(async (trx) => {
      const updated = await update(trx);
      if (updated) await holdOpenSession(trx, session);
      return updated;
    });
  }

  /** Deletes the user, and by cascade their sessions and refresh tokens. True if it existed. */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * One page of users in creation order (created_at, then id to break ties). Keyset pagination:
   * stable while rows are added, and as fast on the last page as on the first.
   */
  async list(options: ListUsersOptions): Promise<UserRow[]> {
    const { limit, after, role, email, disabled } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_USERS_PAGE) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_USERS_PAGE}`);
    }
    if (email !== undefined && holdsNul(email)) return [];
    let query = this.db.selectFrom('users').selectAll();
    if (role !== undefined) query = query.where('role', '=', role);
    if (email !== undefined) query = query.where('email', '=', email);
    if (disabled !== undefined) query = query.where('disabled', '=', disabled ? 1 : 0);
    if (after !== undefined) {
      query = query.where((eb) =>
        eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.createdAt, after.id)),
      );
    }
    return query.orderBy('created_at', 'asc').orderBy('id', 'asc').limit(limit).execute();
  }

  /** How many users hold `role`; guards such as "never demote the last admin" use it. */
  async countByRole(role: string): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('role', '=', role)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** How many enabled users hold one of `roles` ("never disable the last admin"). */
  async countActiveInRoles(roles: readonly string[]): Promise<number> {
    if (roles.length === 0) return 0;
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('role', 'in', roles)
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
