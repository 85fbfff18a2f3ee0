import { randomToken, sha256Hex } from '../crypto/index.js';
import type {
  ActingSession,
  EmailTokenPurpose,
  EmailTokensRepository,
  UserRow,
} from '../db/index.js';

/**
 * Issues the token of an e-mailed link for `user`'s current address: 256 random bits, stored as
 * its SHA-256 only, valid for `ttlMs`. Returns the token to put in the link, or null when the
 * account was disabled, deleted or given another address since `user` was read (nothing is
 * stored then, and no link may be sent: see EmailTokensRepository.issue).
 */
export async function issueLinkToken(
  tokens: Pick<EmailTokensRepository, 'issue'>,
  user: UserRow,
  purpose: EmailTokenPurpose,
  ttlMs: number,
  now: number,
  session?: ActingSession,
): Promise<string | null> {
  const token = randomToken(32);
  const issued = await tokens.issue({
    userId: user.id,
    purpose,
    tokenHash: sha256Hex(token),
    email: user.email,
    now,
    expiresAt: now + ttlMs,
    ...(session === undefined ? {} : { session }),
  });
  return issued ? token : null;
}
