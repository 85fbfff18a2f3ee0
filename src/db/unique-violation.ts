/** PostgreSQL SQLSTATE for unique_violation. */
const PG_UNIQUE_VIOLATION = '23505';
/** better-sqlite3 extended result codes for a UNIQUE index or PRIMARY KEY conflict. */
const SQLITE_UNIQUE_CODES: ReadonlySet<string> = new Set([
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
]);
// Wrappers (AppError, the migrator) keep the driver error as `cause`; a short walk finds it
// without risking a loop on a cyclic chain.
const MAX_CAUSE_DEPTH = 5;

/**
 * True when a database error is a unique-constraint conflict, on PostgreSQL or SQLite. Lets a
 * service turn "insert, then catch" into a domain error (`email_taken`) without racing a
 * lookup-then-insert.
 */
export function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH; depth++) {
    if (typeof current !== 'object' || current === null) return false;
    const code = (current as { code?: unknown }).code;
    if (code === PG_UNIQUE_VIOLATION) return true;
    if (typeof code === 'string' && SQLITE_UNIQUE_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
