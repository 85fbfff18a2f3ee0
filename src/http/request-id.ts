import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Header carrying the request id both ways. */
export const REQUEST_ID_HEADER = 'x-request-id';

// Anything looser would let a client inject log lines or header values through the id.
const ACCEPTABLE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The id of a request: the caller's `X-Request-Id` when it is safe to reuse (at most 64 of
 * [A-Za-z0-9-_]), otherwise a fresh random UUID.
 */
export function requestIdFor(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
}
