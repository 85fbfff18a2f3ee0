import type { UserRow, UsersRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import { canonicalEmail } from './normalize.js';

/** A page of `GET /users`, as the query string asks for it. */
export interface UserListQuery {
  limit?: number;
  cursor?: string;
  role?: string;
  email?: string;
  disabled?: boolean;
}

/** One page of users, oldest first, and where the next one starts (null: this is the last). */
export interface UserPage {
  items: UserRow[];
  nextCursor: string | null;
}

/** Encodes the keyset position of a user for `nextCursor`. Opaque to clients. */
function encodeCursor(row: UserRow): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string' &&
      value[1].length <= 64 &&
      // No id holds U+0000, which PostgreSQL's text type refuses outright (a 500 there).
      !value[1].includes('\u0000')
    ) {
      return { createdAt: value[0] as number, id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', 'The request does not match the expected schema.', {
    errors: [{ path: '/querystring/cursor', message: 'is not a cursor this server issued' }],
  });
}

/**
 * A page of users with keyset pagination: `query.cursor` is a `nextCursor` given before.
 * @throws AppError validation_failed when the cursor is not one this server issued
 */
export async function listUsers(
  repo: Pick<UsersRepository, 'list'>,
  query: UserListQuery,
): Promise<UserPage> {
  const limit = query.limit ?? 20;
  const rows = await repo.list({
    limit: limit + 1,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
    role: query.role,
    email: query.email === undefined ? undefined : canonicalEmail(query.email),
    disabled: query.disabled,
  });
  const items = rows.slice(0, limit);
  return {
    items,
    nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!) : null,
  };
}
