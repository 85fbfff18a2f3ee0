import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import { sql } from '../kysely.js';
import type { DialectName } from '../database.js';

/*
 * Second factors (src/auth/mfa-service.ts): one TOTP authenticator per user, its secret
 * encrypted (`secret_enc`, src/db/encrypted-columns.ts), and single-use recovery codes stored as
 * SHA-256 hashes. `users.mfa_enabled` (0001) is set once an authenticator is confirmed.
 * `sessions.amr` records how a session was signed in (RFC 8176 methods), for the `amr` claim.
 */

type AnyDb = Kysely<unknown>;

/** Builds the MFA migration for one dialect. */
export function mfaMigration(dialect: DialectName): Migration {
  const millis = dialect === 'postgres' ? 'bigint' : 'integer';
  const strict = <T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
  ): CreateTableBuilder<T, C> => (dialect === 'sqlite' ? table.modifyEnd(sql`strict`) : table);

  return {
    async up(db: AnyDb): Promise<void> {
      // Space-separated RFC 8176 methods (`pwd otp mfa`); null: none recorded.
      await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();
      await db.schema
        .createTable('totp_factors')
        // One authenticator per user: the primary key is the user's id.
        .addColumn('user_id', 'text', (c) =>
          c.primaryKey().references('users.id').onDelete('cascade'),
        )
        .addColumn('secret_enc', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        // Null while enrolment waits for its first code.
        .addColumn('confirmed_at', millis)
        // The RFC 6238 time step of the last code accepted: a code is refused unless later.
        .addColumn('last_step', 'integer')
        .$call(strict)
        .execute();

      await db.schema
        .createTable('recovery_codes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('used_at', millis)
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('recovery_codes_user_id_code_hash_idx')
        .on('recovery_codes')
        .columns(['user_id', 'code_hash'])
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('recovery_codes').execute();
      await db.schema.dropTable('totp_factors').execute();
      await db.schema.alterTable('sessions').dropColumn('amr').execute();
    },
  };
}
