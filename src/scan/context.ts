import type { JsonWebKey } from 'node:crypto';
import { ProbeError, type ProbeRequest, type ScanClient } from './client.js';
import type { ApiDescription, Operation } from './discovery.js';
import type { ProbeResponse, ScanFinding, ScanStatus } from './types.js';

/** What the checks share: the client, what discovery found, and every response seen so far. */
export interface ScanContext {
  client: ScanClient;
  foreignOrigin: string;
  rateLimitRequests: number;
  api: ApiDescription | undefined;
  openapiPath: string | undefined;
  protectedPath: string | undefined;
  login: Operation | undefined;
  /** A body the login route accepts as well-formed (wrong credentials), if one could be built. */
  loginSample: Record<string, unknown> | undefined;
  /** That body came from the user's --login-body, not from the OpenAPI document or the default. */
  loginBodyGiven: boolean;
  /** The login route's answer to that body, the first time the scan sent it (the body checks). */
  loginBaseline?: ProbeResponse;
  jwks: JsonWebKey[];
  token: string | undefined;
  /** The header the token goes in as it is (`X-API-Key`), instead of `Authorization: Bearer`. */
  authHeader: string | undefined;
  /** The protected route answered with the token given (2xx), when there is one. */
  authed: ProbeResponse | undefined;
  /** The first answer of the target (its base path). */
  home: ProbeResponse;
  /** An address nothing lives at. */
  notFound: ProbeResponse | undefined;
  /** The protected route answered without a token. */
  anonymous: ProbeResponse | undefined;
  /** Every response of the scan, for the checks that look at all of them. */
  seen: ProbeResponse[];
  send(probe: ProbeRequest): Promise<ProbeResponse>;
}

/** What to do when the login body sent was refused as invalid (400): how to give a better one. */
export const loginBodyHint = (ctx: ScanContext): string =>
  ctx.loginBodyGiven
    ? 'check the shape given with --login-body against what the route takes'
    : 'give its shape with --login-body (e.g. {"username":"{user}","password":"{password}"}), or serve an OpenAPI document describing it';

/**
 * The header that carries `token` (the one given, or one forged from it): `Authorization: Bearer`
 * (RFC 6750), or the raw token in the header named with --auth-header (`X-API-Key`).
 */
export const credentials = (ctx: ScanContext, token: string): Record<string, string> =>
  ctx.authHeader === undefined ? { authorization: `Bearer ${token}` } : { [ctx.authHeader]: token };

/** "GET /api/v1/users/me → 401": what a finding shows as its evidence. */
export const evidence = (res: ProbeResponse): string => `${res.method} ${res.path} → ${res.status}`;

export function finding(
  check: string,
  line: number,
  status: ScanStatus,
  reason: string,
  extra: { fix?: string | undefined; evidence?: string | undefined } = {},
): ScanFinding {
  return {
    check,
    line,
    status,
    reason,
    ...(extra.fix === undefined || status === 'pass' || status === 'skip'
      ? {}
      : { fix: extra.fix }),
    ...(extra.evidence === undefined ? {} : { evidence: extra.evidence }),
  };
}

/** A header's value as one string (repeated headers joined), or undefined. */
export function header(res: ProbeResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

export const isSuccess = (res: ProbeResponse): boolean => res.status >= 200 && res.status < 300;

/**
 * The `skip` of a check whose probe was answered 429 (or 423). A rate limit that comes before the body is
 * read (Bulwark's does: its pipeline limits, then parses) says nothing about how the body would
 * have been handled, and scans run shortly after one another from one address use up the login
 * route's allowance: judged as an answer, the 429 was a false "processed like JSON" failure.
 * Undefined for any other answer.
 */
export function rateLimitedSkip(
  id: string,
  line: number,
  res: ProbeResponse,
): ScanFinding | undefined {
  // 423 Locked: an account lockout (the probe account's wrong passwords, this scan's or an
  // earlier one's) answers every body alike, as a limit does.
  if (res.status !== 429 && res.status !== 423) return undefined;
  const retryAfter = header(res, 'retry-after')?.trim();
  const when =
    retryAfter !== undefined && /^\d+$/.test(retryAfter) ? `in ${retryAfter} s` : 'later';
  const what =
    res.status === 429
      ? "was rate limited (429), so this probe could not tell anything (earlier scans from this address use up the route's allowance)"
      : "answered 423 Locked (the probe account's wrong passwords set off a lockout), so this probe could not tell anything";
  return finding(id, line, 'skip', `${res.method} ${res.path} ${what}. Scan again ${when}.`, {
    evidence: evidence(res),
  });
}

/**
 * One check of a group: its id and checklist line, and how to judge it (which may send probes).
 * A group of checks is a list of these, so that a probe that gets no answer costs its own check
 * only (see judgeCheck).
 */
export interface Check {
  check: string;
  line: number;
  /** Its finding, or undefined when there is nothing to say (no certificate to look at). */
  judge(): Promise<ScanFinding | undefined> | ScanFinding | undefined;
}

export const check = (id: string, line: number, judge: Check['judge']): Check => ({
  check: id,
  line,
  judge,
});

/** A check that did not run, and why: it is reported as `skip` under its own id and line. */
export const skipped = (
  id: string,
  line: number,
  reason: string,
  extra: { fix?: string; evidence?: string } = {},
): Check => check(id, line, () => finding(id, line, 'skip', reason, extra));

/**
 * Judges one check. When a probe it needed got no answer (the target reset or stalled that
 * connection), the check becomes a warning that says so, under its own id and line, and the
 * scan goes on: a firewall that resets TRACE must not cost the other body checks their findings.
 */
export async function judgeCheck(unit: Check): Promise<ScanFinding | undefined> {
  let found: ScanFinding | undefined;
  try {
    found = await unit.judge();
  } catch (error) {
    if (!(error instanceof ProbeError)) throw error;
    return finding(
      unit.check,
      unit.line,
      'warn',
      `A probe of this check got no answer (${error.message}), so it could not be judged.`,
      {
        fix: 'Find out why the API drops or stalls this request (a crash, a proxy, a firewall rule), then scan again.',
      },
    );
  }
  // A finding under another id would leave the no-answer warning above under the wrong one.
  if (found !== undefined && (found.check !== unit.check || found.line !== unit.line))
    throw new Error(`check ${unit.check} reported as ${found.check} (line ${found.line})`);
  return found;
}

/**
 * A probe that several checks of a group compare with: its answer, or the ProbeError it got
 * instead, which each check needing it throws in turn (answerOf) to become its own warning.
 */
export async function settle(pending: Promise<ProbeResponse>): Promise<ProbeResponse | ProbeError> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof ProbeError) return error;
    throw error;
  }
}

/** The answer of a settled probe; throws its ProbeError when it got none. */
export function answerOf(settled: ProbeResponse | ProbeError): ProbeResponse {
  if (settled instanceof ProbeError) throw settled;
  return settled;
}
