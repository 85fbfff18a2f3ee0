/**
 * `bulwark audit`: a scanner that tests a running API from the outside against the security
 * checklist of the spec. These are the shapes shared by its checks and its report.
 */

export type ScanStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** What one check found about the target. Nothing in it is a secret the scan was given. */
export interface ScanFinding {
  /** Stable id of the check (`cors.foreign-origin`), for filtering and for CI baselines. */
  check: string;
  /** The checklist line (1-17 of the spec) it tests. */
  line: number;
  status: ScanStatus;
  reason: string;
  /** How to get to `pass`, for warn and fail. */
  fix?: string;
  /** The request that showed it (`GET /api/v1/users/me → 200`), where one did. */
  evidence?: string;
}

/** One HTTP exchange of the scan, as the checks see it. */
export interface ProbeResponse {
  method: string;
  path: string;
  status: number;
  /** Lower-case names; a repeated header's values joined with ", " (set-cookie: one per entry). */
  headers: Record<string, string | string[] | undefined>;
  /** The body as UTF-8 text, at most MAX_BODY_BYTES of it. */
  body: string;
  /** The TLS version negotiated (`TLSv1.3`), for an https target. */
  tlsProtocol?: string;
  /** The body was longer than the probe keeps, and was cut. */
  truncated?: boolean;
}

/**
 * What runScan scans and how: the target, credentials, where things are, and the bounds on what
 * it sends.
 */
export interface ScanOptions {
  /** Base URL of the API (`https://api.example.com`, `http://127.0.0.1:3000/prefix`). */
  target: URL;
  /** An access token the API accepts, for the authenticated checks and the token attacks. */
  token?: string;
  /**
   * The header that carries `token` as it is (`X-API-Key`), for an API that takes no bearer
   * token. Default: `Authorization: Bearer <token>`.
   */
  authHeader?: string;
  /** Where the OpenAPI document is (a path on the target); default `/openapi.json`. */
  openapiPath?: string;
  /**
   * Where the API's JWKS is: a path under the base (starting with "/") or an absolute http(s) URL,
   * on any origin. Default: /.well-known/jwks.json, else the same-origin `jwks_uri` of
   * /.well-known/openid-configuration.
   */
  jwksUrl?: string;
  /** A GET route that needs the token; default: found in the OpenAPI document. */
  protectedPath?: string;
  /** The password-login route (POST, JSON); default: found in the OpenAPI document. */
  loginPath?: string;
  /**
   * The login body's shape: a JSON object with the string values "{user}" and "{password}" where
   * the probe's user name and wrong password go (see login-body.ts). Wins over the OpenAPI
   * document's schema; without either, `{email, password}` is sent.
   */
  loginBody?: Record<string, unknown>;
  /** The origin sent by the CORS probes: one the API must not trust. */
  foreignOrigin?: string;
  /** Most requests the rate-limit probe may send before concluding there is no limit (0: skip). */
  rateLimitRequests?: number;
  /** Most requests the whole scan may send; the scan stops with an error beyond it. */
  maxRequests?: number;
  /** Per-request time limit. */
  timeoutMs?: number;
  /** The whole scan's time limit; the scan stops with an error beyond it. */
  maxDurationMs?: number;
  /** Extra CA certificates (PEM) to trust for an https target. */
  ca?: string;
}

/** What runScan found: every check's finding, and what the scan sent and how long it took. */
export interface ScanReport {
  target: string;
  startedAt: string;
  durationMs: number;
  requests: number;
  openapi: string | null;
  /** Why the OpenAPI document could not be used (not found, not JSON, too large), when it was not. */
  openapiProblem?: string;
  tokenGiven: boolean;
  findings: ScanFinding[];
}
