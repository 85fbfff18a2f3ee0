/**
 * Node's socket errors for a peer that is down, unreachable or went away: what pg reports when
 * the PostgreSQL server (or the network to it) is down.
 */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
/**
 * PostgreSQL SQLSTATEs of a server that cannot take the request now: too_many_connections,
 * admin_shutdown, crash_shutdown, cannot_connect_now. Class 08 (connection exception) is
 * matched by prefix.
 */
const PG_UNAVAILABLE: ReadonlySet<string> = new Set(['53300', '57P01', '57P02', '57P03']);
/**
 * pg and pg-pool errors without a code: a connection lost, cut or never made in time, or a
 * statement whose answer never came (the client-side read timeout of createDatabase).
 */
const PG_CONNECTION_MESSAGE =
  /^(?:Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout$)/;
const MAX_CAUSE_DEPTH = 5;

/**
 * True when a database error means the database cannot be reached or will not take the request
 * now (PostgreSQL down, cut off or out of connections; SQLite locked by another process beyond
 * its busy timeout), as opposed to a fault of the query or the data. Such a failure is the
 * client's "try again shortly" (503), not a bug (500).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH; depth++) {
    if (typeof current !== 'object' || current === null) return false;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code) || PG_UNAVAILABLE.has(code)) return true;
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
      if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return true;
    }
    if (typeof message === 'string' && PG_CONNECTION_MESSAGE.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
