import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../database.js';

/*
 * A user's session generation: a counter that ending all the user's sessions moves on first
 * (src/tokens/sessions.ts, Sessions.endAll; not for a role change or MFA turned on), and that a
 * sign-in not yet a session carries from when it was issued (a provider sign-in's one-time
 * hand-off code, src/oidc/handoff-codes.ts). A code of an earlier generation starts no session
 * (src/oidc/code-exchange.ts): logging out everywhere, a password change or reset, a disabling
 * or an MFA reset ends it with the rest. A counter rather than a time: instances' clocks differ,
 * and two events within one millisecond could not be told apart. Existing accounts start at 0: a code issued before this step carries no generation and is
 * refused as unknown, so none can be compared with it.
 */

type AnyDb = Kysely<unknown>;

/** Builds the session-generation migration (the same for both dialects). */
export function sessionGenerationMigration(_dialect: DialectName): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .alterTable('users')
        .addColumn('session_generation', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.alterTable('users').dropColumn('session_generation').execute();
    },
  };
}
