import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import { sql } from '../kysely.js';
import type { DialectName } from '../database.js';

/*
 * Users, their sessions and refresh tokens, and the token signing keys (src/db/types.ts).
 * One migration for both dialects; only the column types differ:
 * - epoch ms are `bigint` in PostgreSQL (they overflowed int4 in 1970) and `integer` in SQLite,
 *   whose integers are already 64-bit;
 * - SQLite tables are STRICT so a wrongly typed value fails as it would on PostgreSQL
 *   instead of being stored as-is (SQLite's type affinity would accept text in an integer column).
 */

// The schema at migration time is not the app's current `Database`, so migrations see no tables.
type AnyDb = Kysely<unknown>;

/** Builds the first migration for one dialect. */
export function identityMigration(dialect: DialectName): Migration {
  const millis = dialect === 'postgres' ? 'bigint' : 'integer';
  const strict = <T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
  ): CreateTableBuilder<T, C> => (dialect === 'sqlite' ? table.modifyEnd(sql`strict`) : table);

  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('phone_enc', 'text')
        .addColumn('email_verified', 'integer', (c) =>
          c.notNull().check(sql`email_verified in (0, 1)`),
        )
        .addColumn('mfa_enabled', 'integer', (c) => c.notNull().check(sql`mfa_enabled in (0, 1)`))
        .addColumn('disabled', 'integer', (c) => c.notNull().check(sql`disabled in (0, 1)`))
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .$call(strict)
        .execute();
      // A unique index, not a lookup-then-insert, is what stops two concurrent sign-ups of one email.
      await db.schema.createIndex('users_email_key').unique().on('users').column('email').execute();
      await db.schema.createIndex('users_role_idx').on('users').column('role').execute();
      // Serves keyset pagination: ORDER BY created_at, id with (created_at, id) > cursor.
      await db.schema
        .createIndex('users_created_at_id_idx')
        .on('users')
        .columns(['created_at', 'id'])
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('last_used_at', millis, (c) => c.notNull())
        .addColumn('expires_at', millis, (c) => c.notNull())
        .addColumn('ended_at', millis)
        .addColumn('end_reason', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('sessions_user_id_idx')
        .on('sessions')
        .column('user_id')
        .execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) =>
          c.notNull().references('sessions.id').onDelete('cascade'),
        )
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('expires_at', millis, (c) => c.notNull())
        .addColumn('used_at', millis)
        // No foreign key: rotation marks the old token before its successor row exists.
        .addColumn('replaced_by', 'text')
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('refresh_tokens_token_hash_key')
        .unique()
        .on('refresh_tokens')
        .column('token_hash')
        .execute();
      await db.schema
        .createIndex('refresh_tokens_session_id_idx')
        .on('refresh_tokens')
        .column('session_id')
        .execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_key_enc', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('retired_at', millis)
        .addColumn('expires_at', millis)
        .$call(strict)
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      // Children first: dropping a referenced table fails on PostgreSQL.
      await db.schema.dropTable('signing_keys').execute();
      await db.schema.dropTable('refresh_tokens').execute();
      await db.schema.dropTable('sessions').execute();
      await db.schema.dropTable('users').execute();
    },
  };
}
