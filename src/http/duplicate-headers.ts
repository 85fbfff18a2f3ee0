import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { AppError } from '../errors.js';

/** True when `raw` is `lowerName` in any case. `| 0x20` lower-cases exactly the ASCII letters. */
function isNamed(raw: string, lowerName: string): boolean {
  for (let i = 0; i < lowerName.length; i++) {
    if ((raw.charCodeAt(i) | 0x20) !== lowerName.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Why `rawHeaders` (Node's flat name, value, name, value … list) cannot be trusted to name one
 * host and one caller, or undefined when it can:
 * - more than one `Host` (RFC 9112 §3.2: a server MUST answer 400), or none on HTTP/1.1;
 * - more than one `Authorization`: it is not a list field, Node keeps the first, and a proxy in
 *   front may honour the last, so the two would disagree about who the caller is.
 * Runs on every request: one pass, comparing lengths first, allocating nothing.
 */
export function ambiguousHeaders(
  rawHeaders: readonly string[],
  http11: boolean,
): string | undefined {
  let hosts = 0;
  let authorizations = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4) {
      if (isNamed(name, 'host') && ++hosts > 1) return 'The request has more than one Host header.';
    } else if (name.length === 13) {
      if (isNamed(name, 'authorization') && ++authorizations > 1) {
        return 'The request has more than one Authorization header.';
      }
    }
  }
  return hosts === 0 && http11 ? 'An HTTP/1.1 request needs a Host header.' : undefined;
}

/**
 * onRequest hook refusing requests whose Host or Authorization is ambiguous (ambiguousHeaders)
 * with 400 bad_request, before routing by host, rate limiting or authentication use them.
 * Node's own missing-Host answer (an empty 400 without headers) is switched off
 * (`requireHostHeader: false`) so that this hook answers it in the problem shape.
 */
export function refuseAmbiguousHeaders(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  const raw = request.raw;
  const problem = ambiguousHeaders(
    raw.rawHeaders,
    raw.httpVersionMajor === 1 && raw.httpVersionMinor === 1,
  );
  if (problem === undefined) done();
  else done(new AppError('bad_request', problem));
}
