import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../database.js';

/*
 * Sessions remember the linked provider identity that signed them in (src/oidc/code-exchange.ts),
 * so that unlinking the identity ends them (src/oidc/linked-identities.ts): an owner who unlinks a
 * provider account after an unexpected sign-in through it signs that intruder out too. Null for
 * password sign-ins and for sessions started before this step (they are not ended by an unlink).
 * No foreign key: the identity row is deleted by the unlink, and ended sessions keep naming it
 * for the record until housekeeping deletes them.
 */

type AnyDb = Kysely<unknown>;

/** Builds the session-identity migration (the same for both dialects). */
export function sessionIdentityMigration(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema.alterTable('sessions').addColumn('identity_id', 'text').execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.alterTable('sessions').dropColumn('identity_id').execute();
    },
  };
}
