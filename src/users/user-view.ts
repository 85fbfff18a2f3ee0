import { DecryptionError, type FieldCipher, type FieldContext } from '../crypto/index.js';
import { ENCRYPTED_COLUMNS, fieldContext, type UserRow } from '../db/index.js';
import { BoundedCache } from '../tokens/bounded-cache.js';
import type { User } from './schema.js';

/** Where a user's phone number lives: the AAD of its envelope (its column and the user's row). */
export function phoneContext(id: string): FieldContext {
  return fieldContext(ENCRYPTED_COLUMNS.usersPhone, id);
}

const isoTimes = new BoundedCache<number, string>(1_024);

/**
 * Epoch ms as ISO 8601. The same few rows are read again and again (every /users/me), and
 * formatting a date costs more than a map lookup, so recent answers are kept.
 */
function isoTime(ms: number): string {
  let iso = isoTimes.get(ms);
  if (iso === undefined) {
    iso = new Date(ms).toISOString();
    isoTimes.set(ms, iso);
  }
  return iso;
}

/** The public view of stored users: the columns a client may see, the phone number decrypted. */
export class UserView {
  constructor(private readonly cipher: FieldCipher) {}

  /** The public view of a stored user; decrypts the phone number. */
  view(row: UserRow): User {
    return {
      id: row.id,
      email: row.email,
      name: row.name,
      role: row.role,
      phone:
        row.phone_enc === null ? null : this.cipher.decrypt(row.phone_enc, phoneContext(row.id)),
      emailVerified: row.email_verified === 1,
      mfaEnabled: row.mfa_enabled === 1,
      createdAt: isoTime(row.created_at),
      updatedAt: isoTime(row.updated_at),
    };
  }

  /**
   * {@link view} for a row of a list: a phone number that no longer decrypts (an envelope altered,
   * moved to another row, or under a removed key version) is shown as null and reported through
   * `onUnreadable`, instead of failing the whole page: one bad row must not keep an
   * administrator from every user listed with it. Reading that user alone still fails (500).
   */
  listView(row: UserRow, onUnreadable: (userId: string, error: DecryptionError) => void): User {
    try {
      return this.view(row);
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      onUnreadable(row.id, error);
      return this.view({ ...row, phone_enc: null });
    }
  }
}
