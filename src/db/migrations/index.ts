import type { Migration } from 'kysely';
import type { DialectName } from '../database.js';
import { identityMigration } from './0001-identity.js';
import { auditEventsMigration } from './0002-audit-events.js';
import { identitiesMigration } from './0003-identities.js';
import { mfaMigration } from './0004-mfa.js';
import { emailTokensMigration } from './0005-email-tokens.js';
import { emailChangeMigration } from './0006-email-change.js';
import { sessionIdentityMigration } from './0007-session-identity.js';
import { sessionGenerationMigration } from './0008-session-generation.js';
import { sessionSignedInAtMigration } from './0009-session-signed-in-at.js';

/**
 * Every migration, by name, built for one dialect. A static map rather than a folder scan, so
 * it works unchanged from dist/ and in a bundle. Names sort in the order they apply: NNNN-name.
 */
export function migrationsFor(dialect: DialectName): Record<string, Migration> {
  return {
    '0001-identity': identityMigration(dialect),
    '0002-audit-events': auditEventsMigration(dialect),
    '0003-identities': identitiesMigration(dialect),
    '0004-mfa': mfaMigration(dialect),
    '0005-email-tokens': emailTokensMigration(dialect),
    '0006-email-change': emailChangeMigration(dialect),
    '0007-session-identity': sessionIdentityMigration(dialect),
    '0008-session-generation': sessionGenerationMigration(dialect),
    '0009-session-signed-in-at': sessionSignedInAtMigration(dialect),
  };
}
