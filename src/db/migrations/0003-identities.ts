import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import { sql } from '../kysely.js';
import type { DialectName } from '../database.js';

/*
 * External sign-in identities (src/oidc/): one row per OpenID Connect account (`issuer` +
 * `subject`) linked to a user. The unique (issuer, subject) index, not a lookup-then-insert, is
 * what stops two concurrent first sign-ins from linking one provider account twice.
 */

type AnyDb = Kysely<unknown>;

/** Builds the identities migration for one dialect. */
export function identitiesMigration(dialect: DialectName): Migration {
  const millis = dialect === 'postgres' ? 'bigint' : 'integer';
  const strict = <T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
  ): CreateTableBuilder<T, C> => (dialect === 'sqlite' ? table.modifyEnd(sql`strict`) : table);

  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('identities')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('last_login_at', millis, (c) => c.notNull())
        .$call(strict)
        .execute();
      await db.schema
        .createIndex('identities_issuer_subject_key')
        .unique()
        .on('identities')
        .columns(['issuer', 'subject'])
        .execute();
      await db.schema
        .createIndex('identities_user_id_idx')
        .on('identities')
        .column('user_id')
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('identities').execute();
    },
  };
}
