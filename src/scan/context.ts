import type { JsonWebKey } from 'node:crypto';
import type { ProbeRequest, ScanClient } from './client.js';
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
  jwks: JsonWebKey[];
  token: string | undefined;
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
