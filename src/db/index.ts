export {
  createDatabase,
  type CreateDatabaseOptions,
  type Db,
  type DialectName,
} from './database.js';
export { parameter, prepareRead, type PreparedRead } from './prepared-read.js';
export { migrateToLatest, type MigrateOptions } from './migrate.js';
export { migrationsFor } from './migrations/index.js';
export { isUniqueViolation } from './unique-violation.js';
export { isDatabaseUnavailable } from './unavailable.js';
export {
  MAX_USERS_PAGE,
  UsersRepository,
  type ListUsersOptions,
  type UserCursor,
} from './users-repository.js';
export { SessionsRepository } from './sessions-repository.js';
export { Housekeeping, type HousekeepingOptions, type PruneResult } from './housekeeping.js';
export { RefreshTokensRepository } from './refresh-tokens-repository.js';
export { SigningKeysRepository } from './signing-keys-repository.js';
export { IdentitiesRepository } from './identities-repository.js';
export { MfaRepository } from './mfa-repository.js';
export { SessionEndedError, type ActingSession } from './open-session.js';
export { EmailTokensRepository, type EmailChangeOutcome } from './email-tokens-repository.js';
export type * from './types.js';
export {
  AuditEventsRepository,
  MAX_AUDIT_PAGE,
  type AuditEventFilter,
} from './audit-events-repository.js';
export {
  ENCRYPTED_COLUMNS,
  EncryptedColumnsRepository,
  encryptedColumns,
  fieldContext,
  type EncryptedColumn,
  type EnvelopeReplacement,
  type StoredEnvelope,
} from './encrypted-columns.js';
export {
  MAX_NAMED_UNREADABLE,
  reencryptAll,
  type ColumnReport,
  type ReencryptOptions,
  type ReencryptProgress,
  type ReencryptReport,
  type UnreadableValue,
} from './reencrypt.js';
