import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../database.js';

/*
 * When the user behind a session last proved who they are, if that is not the session's start: a
 * provider sign-in is as recent as the provider's own authentication (the ID token's
 * `auth_time`), which a provider session in the browser may have made hours before, with no
 * credential asked this time. Access tokens carry it as `auth_time`, which the recent sign-in
 * windows (access.recentSignInSeconds, access.privilegedRecentSignInSeconds) check. Null: the
 * session's start for a password sign-in, and unknown for a provider sign-in whose provider did
 * not say (never recent). Epoch ms, like every time column.
 */

type AnyDb = Kysely<unknown>;

/** Builds the session sign-in time migration. */
export function sessionSignedInAtMigration(dialect: DialectName): Migration {
  const millis = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema.alterTable('sessions').addColumn('signed_in_at', millis).execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.alterTable('sessions').dropColumn('signed_in_at').execute();
    },
  };
}
