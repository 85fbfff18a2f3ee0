import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import { sql } from '../kysely.js';
import type { DialectName } from '../database.js';

/*
 * E-mail address change (src/auth/email-change-service.ts): a third purpose of e-mailed tokens,
 * `email_change`, whose link goes to the requested address. `new_email` holds that address; it is
 * set for a change token and for no other (a check says so), so a reset or verification token can
 * never be read as a change. `email` stays the account's address when the token was issued.
 *
 * PostgreSQL alters the check in place. SQLite cannot change a check constraint: the table is
 * rebuilt (new table, rows copied, old one dropped, new one renamed), inside the migration run's
 * one transaction (src/db/migrate.ts). Nothing references email_tokens, so foreign keys stay on.
 */

type AnyDb = Kysely<unknown>;
/** The tables of this step, untyped: the app's Database type describes the latest schema only. */
type Tables = Kysely<Record<string, Record<string, unknown>>>;

const OLD_PURPOSES = sql`purpose in ('password_reset', 'email_verification')`;
const NEW_PURPOSES = sql`purpose in ('password_reset', 'email_verification', 'email_change')`;
// A change token carries its address; no other token does.
const NEW_EMAIL_ONLY_FOR_CHANGE = sql`(purpose = 'email_change') = (new_email is not null)`;
const INDEX = 'email_tokens_user_id_purpose_idx';

/** Builds the e-mail change migration for one dialect. */
export function emailChangeMigration(dialect: DialectName): Migration {
  return dialect === 'postgres' ? onPostgres() : onSqlite();
}

function onPostgres(): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema.alterTable('email_tokens').addColumn('new_email', 'text').execute();
      // 0005's column check got PostgreSQL's default name, <table>_<column>_check.
      await db.schema
        .alterTable('email_tokens')
        .dropConstraint('email_tokens_purpose_check')
        .execute();
      await db.schema
        .alterTable('email_tokens')
        .addCheckConstraint('email_tokens_purpose_check', NEW_PURPOSES)
        .execute();
      await db.schema
        .alterTable('email_tokens')
        .addCheckConstraint('email_tokens_new_email_check', NEW_EMAIL_ONLY_FOR_CHANGE)
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      await (db as Tables)
        .deleteFrom('email_tokens')
        .where('purpose', '=', 'email_change')
        .execute();
      await db.schema
        .alterTable('email_tokens')
        .dropConstraint('email_tokens_new_email_check')
        .execute();
      await db.schema
        .alterTable('email_tokens')
        .dropConstraint('email_tokens_purpose_check')
        .execute();
      await db.schema
        .alterTable('email_tokens')
        .addCheckConstraint('email_tokens_purpose_check', OLD_PURPOSES)
        .execute();
      await db.schema.alterTable('email_tokens').dropColumn('new_email').execute();
    },
  };
}

const COMMON_COLUMNS = [
  'id',
  'user_id',
  'purpose',
  'token_hash',
  'email',
  'created_at',
  'expires_at',
  'used_at',
] as const;

function onSqlite(): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await rebuild(db, true);
    },
    async down(db: AnyDb): Promise<void> {
      await (db as Tables)
        .deleteFrom('email_tokens')
        .where('purpose', '=', 'email_change')
        .execute();
      await rebuild(db, false);
    },
  };
}

/** Rebuilds SQLite's email_tokens as 0005 made it (`withChange` false) or as 0006 does. */
async function rebuild(db: AnyDb, withChange: boolean): Promise<void> {
  const next = 'email_tokens_0006';
  const strict = <T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
  ): CreateTableBuilder<T, C> => table.modifyEnd(sql`strict`);
  let table = db.schema
    .createTable(next)
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (c) =>
      c.notNull().check(withChange ? NEW_PURPOSES : OLD_PURPOSES),
    )
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'integer');
  if (withChange) {
    table = table
      .addColumn('new_email', 'text')
      .addCheckConstraint('email_tokens_new_email_check', NEW_EMAIL_ONLY_FOR_CHANGE);
  }
  await table.$call(strict).execute();
  const tables = db as Tables;
  await tables
    .insertInto(next)
    .columns(COMMON_COLUMNS)
    .expression(tables.selectFrom('email_tokens').select(COMMON_COLUMNS))
    .execute();
  await db.schema.dropTable('email_tokens').execute();
  await db.schema.alterTable(next).renameTo('email_tokens').execute();
  await db.schema.createIndex(INDEX).on('email_tokens').columns(['user_id', 'purpose']).execute();
}
