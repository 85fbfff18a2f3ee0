import { isAcceptedPasswordHash } from '../crypto/index.js';
import { isAppError } from '../errors.js';
import { normalizeEmail, normalizeName } from './normalize.js';

/** One account to create, read from one line of an import file. */
export interface ImportedUser {
  /** 1-based line of the file, for messages. */
  line: number;
  email: string;
  name: string;
  role: string;
  /** A bcrypt or argon2 hash from the old system; null: the account has no password. */
  passwordHash: string | null;
  emailVerified: boolean;
}

/** Why one line cannot be imported. */
export interface ImportProblem {
  line: number;
  message: string;
}

export interface ImportRoles {
  isRole(role: string): boolean;
  roles(): string[];
  defaultRole: string;
}

/** The fields a line may have; any other is refused, so a misspelt one is never dropped. */
const FIELDS = new Set(['email', 'name', 'role', 'passwordHash', 'emailVerified']);
// The API's own bounds (users/schema.ts), so an imported account is one the API could create.
const MAX_EMAIL = 254;
const MAX_NAME = 100;
const MAX_HASH = 512;

/**
 * Reads an import file: JSON Lines, one object per line (blank lines are skipped), e.g.
 * `{"email":"ann@example.com","name":"Ann","role":"user","passwordHash":"$2b$12$…","emailVerified":true}`.
 * Every line is checked as registration checks its fields (the same normalisation of the address
 * and name, the same bounds), roles against `access.roles`, hashes against the formats a login
 * verifies (bcrypt `$2a$`/`$2b$`/`$2y$`, argon2 PHC); an address twice in the file is a problem.
 * A plaintext `password` is refused: it would have to be checked against the password policy and
 * hashed, and a file of them should not exist.
 */
export function parseUserImport(
  text: string,
  roles: ImportRoles,
): { users: ImportedUser[]; problems: ImportProblem[] } {
  const users: ImportedUser[] = [];
  const problems: ImportProblem[] = [];
  const firstLineOf = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    const problem = (message: string): void => void problems.push({ line, message });
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      // Not quoted back: the line may hold a hash.
      problem('not a JSON object (one per line)');
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problem('not a JSON object (one per line)');
      return;
    }
    const record = value as Record<string, unknown>;
    const unknown = Object.keys(record).filter((key) => !FIELDS.has(key));
    if (unknown.includes('password')) {
      problem(
        'plaintext "password" is not imported: give "passwordHash" (bcrypt or argon2), or leave it out and let the user set one by a password reset',
      );
      return;
    }
    if (unknown.length > 0) {
      problem(`unknown field ${JSON.stringify(unknown[0])} (fields: ${[...FIELDS].join(', ')})`);
      return;
    }
    const parsed = readRecord(record, roles);
    if (typeof parsed === 'string') {
      problem(parsed);
      return;
    }
    const first = firstLineOf.get(parsed.email);
    if (first !== undefined) {
      problem(`${parsed.email} is also on line ${first}`);
      return;
    }
    firstLineOf.set(parsed.email, line);
    users.push({ line, ...parsed });
  });
  return { users, problems };
}

/** The record's fields, normalised, or what is wrong with them. */
function readRecord(
  record: Record<string, unknown>,
  roles: ImportRoles,
): Omit<ImportedUser, 'line'> | string {
  const { email, name, role, passwordHash, emailVerified } = record;
  if (typeof email !== 'string') return '"email" is required (a string)';
  if (email.length > MAX_EMAIL) return `"email" must be at most ${MAX_EMAIL} characters`;
  let address: string;
  let displayName: string;
  try {
    address = normalizeEmail(email, 'email');
    if (name !== undefined && typeof name !== 'string') return '"name" must be a string';
    displayName = normalizeName(name ?? address.slice(0, address.lastIndexOf('@')), 'name');
  } catch (error) {
    if (isAppError(error)) {
      const [first] = error.errors ?? [];
      if (first) return `"${first.path}" ${first.message}`;
    }
    throw error;
  }
  if (displayName.length > MAX_NAME) return `"name" must be at most ${MAX_NAME} characters`;
  if (role !== undefined && (typeof role !== 'string' || !roles.isRole(role))) {
    return `"role" must be one of ${roles.roles().join(', ')}`;
  }
  if (passwordHash !== undefined) {
    if (
      typeof passwordHash !== 'string' ||
      passwordHash.length > MAX_HASH ||
      !isAcceptedPasswordHash(passwordHash)
    ) {
      // Never quoted: it is a password hash.
      return '"passwordHash" is not a hash a login can verify: bcrypt ($2a$, $2b$ or $2y$, cost 4 to 16) or argon2 (PHC string, $argon2id$…)';
    }
  }
  if (emailVerified !== undefined && typeof emailVerified !== 'boolean') {
    return '"emailVerified" must be true or false';
  }
  return {
    email: address,
    name: displayName,
    role: role ?? roles.defaultRole,
    passwordHash: passwordHash ?? null,
    emailVerified: emailVerified === true,
  };
}
