import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import { sql } from '../kysely.js';
import type { DialectName } from '../database.js';

/*
 * Single-use tokens sent by e-mail (src/auth/account-email-service.ts): a password reset link, or
 * the link that verifies an address. Random, so stored as their SHA-256 (hex), never in clear.
 * `email` is the address the token was sent to: a verification token proves that address only.
 */

type AnyDb = Kysely<unknown>;

/** Builds the e-mail token migration for one dialect. */
export function emailTokensMigration(dialect: DialectName): Migration {
  const millis = dialect === 'postgres' ? 'bigint' : 'integer';
  const strict = <T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
  ): CreateTableBuilder<T, C> => (dialect === 'sqlite' ? table.modifyEnd(sql`strict`) : table);

  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('email_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('purpose', 'text', (c) =>
          c.notNull().check(sql`purpose in ('password_reset', 'email_verification')`),
        )
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('expires_at', millis, (c) => c.notNull())
        .addColumn('used_at', millis)
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('email_tokens_user_id_purpose_idx')
        .on('email_tokens')
        .columns(['user_id', 'purpose'])
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('email_tokens').execute();
    },
  };
}
