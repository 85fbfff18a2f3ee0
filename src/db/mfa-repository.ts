import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, TotpFactorRow } from './types.js';
import { holdOpenSession, type ActingSession } from './open-session.js';

/**
 * Reads and writes a user's second factors: the `totp_factors` row (its secret already
 * encrypted by the caller), the `recovery_codes` hashes, and `users.mfa_enabled`, which every
 * change here keeps in step in the same transaction.
 */
export class MfaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findFactor(userId: string): Promise<TotpFactorRow | undefined> {
    return this.db
      .selectFrom('totp_factors')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  /**
   * Starts (or restarts) an enrolment with a new secret. False, changing nothing, when the user
   * already has a confirmed authenticator: replacing it takes turning MFA off first.
   */
  async savePending(userId: string, secretEnc: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('totp_factors')
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is', null)
        .execute();
      const existing = await trx
        .selectFrom('totp_factors')
        .select('user_id')
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (existing) return false;
      await trx
        .insertInto('totp_factors')
        .values({
          user_id: userId,
          secret_enc: secretEnc,
          created_at: now,
          confirmed_at: null,
          last_step: null,
        })
        .execute();
      return true;
    });
  }

  /**
   * Confirms the pending enrolment whose secret is `secretEnc` (the one the code was checked
   * against: a restarted enrolment meanwhile is not confirmed by the old secret's code), stores
   * the recovery codes and turns MFA on. False when that enrolment is no longer pending. With
   * `session` (the one confirming it), only while that session is open and its account enabled:
   * otherwise SessionEndedError and nothing changes, since an enrolment confirmed from a session
   * its owner ended meanwhile (or of an account an administrator is disabling) would put the
   * intruder's authenticator on the account.
   */
  async confirm(
    userId: string,
    secretEnc: string,
    step: number,
    codeHashes: readonly string[],
    now: number,
    session?: ActingSession,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const confirmed = await trx
        .updateTable('totp_factors')
        .set({ confirmed_at: now, last_step: step })
        .where('user_id', '=', userId)
        .where('secret_enc', '=', secretEnc)
        .where('confirmed_at', 'is', null)
        .executeTakeFirst();
      if (confirmed.numUpdatedRows === 0n) return false;
      await replaceCodes(trx, userId, codeHashes, now);
      await trx
        .updateTable('users')
        .set({ mfa_enabled: 1, updated_at: now })
        .where('id', '=', userId)
        .execute();
      if (session) await holdOpenSession(trx, session);
      return true;
    });
  }

  /**
   * Records `step` as used if it is later than the last step used: true exactly once per step,
   * even for concurrent requests (the guarded UPDATE is the arbiter, as for refresh tokens).
   * `confirmedAt` names the enrolment the code was checked against: one removed and made anew
   * meanwhile is not touched. (Not the envelope, which `keys reencrypt` may rewrite meanwhile.)
   */
  async useStep(userId: string, confirmedAt: number, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable('totp_factors')
      .set({ last_step: step })
      .where('user_id', '=', userId)
      .where('confirmed_at', '=', confirmedAt)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Marks an unused recovery code used; true exactly once per code. */
  async useRecoveryCode(userId: string, codeHash: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', codeHash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async countUnusedRecoveryCodes(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /**
   * Replaces every recovery code of a user with MFA on; false when MFA is not on. `confirmedAt`
   * names the authenticator the codes were made for (they are keyed by its secret): one removed
   * and enrolled anew meanwhile gets none. With `session` (the one asking), only while it is open:
   * otherwise SessionEndedError and nothing changes, since new codes from a session its owner
   * ended meanwhile would hand whoever held it a second factor that outlives it.
   */
  async replaceRecoveryCodes(
    userId: string,
    confirmedAt: number,
    codeHashes: readonly string[],
    now: number,
    session?: ActingSession,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const factor = await trx
        .selectFrom('totp_factors')
        .select('user_id')
        .where('user_id', '=', userId)
        .where('confirmed_at', '=', confirmedAt)
        .executeTakeFirst();
      if (!factor) return false;
      await replaceCodes(trx, userId, codeHashes, now);
      if (session) await holdOpenSession(trx, session);
      return true;
    });
  }

  /**
   * Removes the authenticator (confirmed or pending) and every recovery code, and turns MFA
   * off; true if it was on. With `session` (its owner's, or the resetting administrator's), only
   * while that session is open: otherwise SessionEndedError and nothing is removed.
   */
  async remove(userId: string, now: number, session?: ActingSession): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('totp_factors').where('user_id', '=', userId).execute();
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      const user = await trx
        .updateTable('users')
        .set({ mfa_enabled: 0, updated_at: now })
        .where('id', '=', userId)
        .where('mfa_enabled', '=', 1)
        .executeTakeFirst();
      if (session) await holdOpenSession(trx, session);
      return user.numUpdatedRows > 0n;
    });
  }
}

async function replaceCodes(
  trx: Kysely<Database>,
  userId: string,
  codeHashes: readonly string[],
  now: number,
): Promise<void> {
  await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  if (codeHashes.length === 0) return;
  await trx
    .insertInto('recovery_codes')
    .values(
      codeHashes.map((code_hash) => ({
        id: randomUUID(),
        user_id: userId,
        code_hash,
        created_at: now,
        used_at: null,
      })),
    )
    .execute();
}
