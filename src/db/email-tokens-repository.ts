import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, EmailTokenPurpose, EmailTokenRow, UserRow } from './types.js';
import { isUniqueViolation } from './unique-violation.js';
import { holdOpenSession, SessionEndedError, type ActingSession } from './open-session.js';

/** What {@link EmailTokensRepository.applyEmailChange} did. */
export type EmailChangeOutcome =
  | { kind: 'changed'; user: UserRow }
  /** The token was used, expired or replaced, or the account no longer has its old address. */
  | { kind: 'invalid' }
  /** Another account holds the new address (the unique constraint said so): nothing changed. */
  | { kind: 'taken' }
  /** The session it was confirmed from ended meanwhile: nothing changed, the token is spent. */
  | { kind: 'session_ended' };

/**
 * Single-use tokens sent by e-mail, stored as hashes. A user has at most one live token per
 * purpose: issuing a new one deletes the others, so only the latest link works.
 */
export class EmailTokensRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Stores a new token for the user and purpose, replacing every earlier one. Only for the account
   * as it is now: false, storing nothing, when it has been disabled, deleted or given another
   * address than `email` since the caller read it. Disabling deletes every link of the account;
   * a link stored after that, by a request that read the account before, would otherwise work
   * again once the account is enabled.
   */
  async issue(input: {
    userId: string;
    purpose: EmailTokenPurpose;
    tokenHash: string;
    email: string;
    /** email_change only: the requested address. */
    newEmail?: string;
    /**
     * The password hash the request was proven with (an address change): a password changed or
     * reset since ends pending changes, so none is stored after it either.
     */
    passwordHash?: string;
    /**
     * The session the link is sent on the say-so of (an administrator's): stored only while it
     * is open, otherwise SessionEndedError and nothing is stored.
     */
    session?: ActingSession;
    now: number;
    expiresAt: number;
  }): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Concurrent requests for one account take turns on its row (PostgreSQL locks it until
      // commit; SQLite runs one write transaction at a time anyway). Without it, under READ
      // COMMITTED each delete sees none of the others' uncommitted inserts, and several links
      // stay live at once. A no-op update rather than FOR UPDATE, which SQLite does not parse.
      // Its conditions are re-read once the lock is held (PostgreSQL re-evaluates them on the
      // row as committed), so a disabling committed first is seen here.
      let lock = trx
        .updateTable('users')
        .set((eb) => ({ id: eb.ref('id') }))
        .where('id', '=', input.userId)
        .where('disabled', '=', 0)
        .where('email', '=', input.email);
      if (input.passwordHash !== undefined)
        lock = lock.where('password_hash', '=', input.passwordHash);
      const locked = await lock.executeTakeFirst();
      if (locked.numUpdatedRows !== 1n) return false;
      await trx
        .deleteFrom('email_tokens')
        .where('user_id', '=', input.userId)
        .where('purpose', '=', input.purpose)
        .execute();
      await trx
        .insertInto('email_tokens')
        .values({
          id: randomUUID(),
          user_id: input.userId,
          purpose: input.purpose,
          token_hash: input.tokenHash,
          email: input.email,
          new_email: input.newEmail ?? null,
          created_at: input.now,
          expires_at: input.expiresAt,
          used_at: null,
        })
        .execute();
      if (input.session) await holdOpenSession(trx, input.session);
      return true;
    });
  }

  /** The token with this hash and purpose while it is unused and unexpired. */
  async findLive(
    tokenHash: string,
    purpose: EmailTokenPurpose,
    now: number,
  ): Promise<EmailTokenRow | undefined> {
    return this.db
      .selectFrom('email_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
  }

  /**
   * Marks the token used, in one conditional update: of two concurrent uses exactly one gets
   * true. False when it was already used, has expired or is gone (replaced by a newer one).
   */
  async consume(id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('email_tokens')
      .set({ used_at: now })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** Deletes the user's tokens of this purpose (after a use, the other links stop working). */
  async deleteForUser(userId: string, purpose: EmailTokenPurpose): Promise<void> {
    await this.db
      .deleteFrom('email_tokens')
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .execute();
  }

  /**
   * Deletes every e-mailed token of the user, whatever its purpose: when the account is disabled,
   * so that enabling it again does not bring back links sent before.
   */
  async deleteAllForUser(userId: string): Promise<void> {
    await this.db.deleteFrom('email_tokens').where('user_id', '=', userId).execute();
  }

  /**
   * Spends an email_change token and moves its account from `from` to `to` (verified), in one
   * transaction: the token is used once, the address changes only while the account still has
   * `from` and is enabled, and the unique constraint on users.email is the final word on a taken
   * address (its violation rolls everything back, token included). Once changed, every e-mailed
   * token of the account is deleted: reset and verification links went to the old address, and
   * other change links are older requests. With `sessionId` (the session that confirms), only
   * while that session is still open, until commit (holdOpenSession): one ended meanwhile (its
   * owner ended it from another device, say) must not move the account and end the sessions of
   * whoever ended it. Then nothing changes but the token, which is spent all the same.
   */
  async applyEmailChange(input: {
    tokenId: string;
    userId: string;
    from: string;
    to: string;
    now: number;
    sessionId?: string;
  }): Promise<EmailChangeOutcome> {
    const session =
      input.sessionId === undefined ? undefined : { id: input.sessionId, userId: input.userId };
    try {
      return await this.db.transaction().execute(async (trx): Promise<EmailChangeOutcome> => {
        const spent = await trx
          .updateTable('email_tokens')
          .set({ used_at: input.now })
          .where('id', '=', input.tokenId)
          .where('user_id', '=', input.userId)
          .where('purpose', '=', 'email_change')
          .where('used_at', 'is', null)
          .where('expires_at', '>', input.now)
          .executeTakeFirst();
        if (spent.numUpdatedRows !== 1n) return { kind: 'invalid' };
        const user = await trx
          .updateTable('users')
          .set({ email: input.to, email_verified: 1, updated_at: input.now })
          .where('id', '=', input.userId)
          .where('email', '=', input.from)
          .where('disabled', '=', 0)
          .returningAll()
          .executeTakeFirst();
        if (!user) {
          // Which refusal: an ended session is told as such; a disabled account whose session
          // is still open (its end follows the disabling) is an invalid link, as it always was.
          if (session) await holdOpenSession(trx, session, { whileEnabled: false });
          return { kind: 'invalid' };
        }
        await trx.deleteFrom('email_tokens').where('user_id', '=', input.userId).execute();
        if (session) await holdOpenSession(trx, session);
        return { kind: 'changed', user };
      });
    } catch (error) {
      if (isUniqueViolation(error)) return { kind: 'taken' };
      if (!(error instanceof SessionEndedError)) throw error;
      // Rolled back with the rest; spent now, as a link used once is gone whatever came of it.
      await this.consume(input.tokenId, input.now);
      return { kind: 'session_ended' };
    }
  }
}
