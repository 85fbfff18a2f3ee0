import type { SessionRow, SessionsRepository, UserRow } from '../db/index.js';
import { clientKey } from '../rate-limit/client-key.js';

/** Sessions looked at: enough to know an owner's usual networks, bounded per sign-in. */
const RECENT_SESSIONS = 200;

/**
 * The network a sign-in came from, coarser than the rate-limit key: an IPv4 /24, an IPv6 /48 (a
 * site), so that a home connection's changing address or a phone moving between a carrier's
 * addresses is not news each time. Null when the address is unknown.
 */
export function signInNetwork(ip: string | null): string | null {
  const key = clientKey(ip);
  if (key === 'ip:unknown') return null;
  if (key.startsWith('ip:')) return `${key.slice(3).split('.').slice(0, 3).join('.')}.0/24`;
  return `${key.slice(4).split(':').slice(0, 3).join(':')}::/48`;
}

/**
 * Whether a sign-in (session `session` of `user`) should be told to its owner (OWASP ASVS
 * V2.2.3: "logging in from unknown or risky locations"): none of the account's kept sessions came
 * from its network. A new account's first sign-in is not news, but the first one of an account
 * with no session kept (none for `retentionMs`, a dormant account) is.
 */
export async function isNewSignIn(
  sessions: Pick<SessionsRepository, 'recentOrigins'>,
  user: Pick<UserRow, 'id' | 'created_at'>,
  session: Pick<SessionRow, 'id' | 'ip' | 'created_at'>,
  retentionMs: number,
): Promise<boolean> {
  const network = signInNetwork(session.ip);
  // An address the service could not read says nothing about where the sign-in came from.
  if (network === null) return false;
  const earlier = (await sessions.recentOrigins(user.id, RECENT_SESSIONS + 1)).filter(
    (row) => row.id !== session.id,
  );
  if (earlier.length === 0) return session.created_at - user.created_at > retentionMs;
  return !earlier.some((row) => signInNetwork(row.ip) === network);
}
