/**
 * The error catalog: every failure a client can see has one stable string code, one HTTP status
 * and one title here. Handlers throw `AppError`s; the error handler (src/http/error-handler.ts)
 * is the only place that turns them into RFC 9457 problem documents.
 *
 * Codes are part of the public contract: never rename one, add a new one instead.
 * docs/errors.md documents every code and a test keeps the two in step.
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
export const errorCatalog = {
  bad_request: { status: 400, title: 'Bad request' },
  validation_failed: { status: 400, title: 'Validation failed' },
  invalid_json: { status: 400, title: 'Invalid JSON' },
  json_too_deep: { status: 400, title: 'JSON nested too deeply' },
  forbidden_json_key: { status: 400, title: 'Forbidden JSON key' },
  unsupported_api_version: { status: 400, title: 'Unsupported API version' },
  weak_password: { status: 400, title: 'Weak password' },
  oidc_redirect_not_allowed: { status: 400, title: 'Return URL not allowed' },
  oidc_login_expired: { status: 400, title: 'Sign-in expired' },
  oidc_state_mismatch: { status: 400, title: 'Sign-in state mismatch' },
  oidc_issuer_mismatch: { status: 400, title: 'Sign-in issuer mismatch' },
  oidc_code_invalid: { status: 400, title: 'Invalid sign-in code' },
  invalid_reset_token: { status: 400, title: 'Invalid password reset link' },
  invalid_verification_token: { status: 400, title: 'Invalid verification link' },
  invalid_email_change_token: { status: 400, title: 'Invalid address change link' },
  email_unchanged: { status: 400, title: 'Same e-mail address' },
  authentication_required: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'Invalid token' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  invalid_refresh_token: { status: 401, title: 'Invalid refresh token' },
  mfa_required: { status: 401, title: 'Second factor required' },
  invalid_otp: { status: 401, title: 'Invalid one-time code' },
  insufficient_user_authentication: { status: 401, title: 'Stronger sign-in required' },
  oidc_provider_denied: { status: 401, title: 'Provider refused the sign-in' },
  oidc_code_rejected: { status: 401, title: 'Authorization code rejected' },
  oidc_id_token_invalid: { status: 401, title: 'Invalid ID token' },
  oidc_id_token_expired: { status: 401, title: 'ID token expired' },
  oidc_nonce_mismatch: { status: 401, title: 'ID token nonce mismatch' },
  oidc_sign_in_not_recent: { status: 401, title: 'Provider sign-in not recent enough' },
  oidc_email_required: { status: 403, title: 'Email required' },
  forbidden: { status: 403, title: 'Forbidden' },
  account_disabled: { status: 403, title: 'Account disabled' },
  password_required: { status: 403, title: 'Password required' },
  not_found: { status: 404, title: 'Not found' },
  oidc_unknown_provider: { status: 404, title: 'Unknown sign-in provider' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'Request timeout' },
  conflict: { status: 409, title: 'Conflict' },
  email_taken: { status: 409, title: 'Email already registered' },
  last_admin: { status: 409, title: 'Last administrator' },
  oidc_link_refused: { status: 409, title: 'Account exists' },
  last_sign_in_method: { status: 409, title: 'Last way to sign in' },
  mfa_already_enabled: { status: 409, title: 'MFA already enabled' },
  mfa_not_enabled: { status: 409, title: 'MFA not enabled' },
  mfa_setup_required: { status: 409, title: 'No authenticator setup in progress' },
  email_already_verified: { status: 409, title: 'Email already verified' },
  api_version_sunset: { status: 410, title: 'API version retired' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  request_header_fields_too_large: { status: 431, title: 'Request header fields too large' },
  internal_error: { status: 500, title: 'Internal server error' },
  oidc_provider_unavailable: { status: 502, title: 'Sign-in provider unavailable' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable error code of the catalog, as sent in a problem document's `code` (docs/errors.md). */
export type ErrorCode = keyof typeof errorCatalog;

/** One field-level problem, as listed in a problem document's `errors` array. */
export interface FieldError {
  /** JSON Pointer into the request part, prefixed with the part: `/body/email`. */
  path: string;
  message: string;
}

export interface AppErrorOptions {
  /** Extra field-level details, rendered as the problem's `errors` member. */
  errors?: FieldError[];
  /** Response headers the failure needs (`Allow`, `Retry-After`, `WWW-Authenticate` ...). */
  headers?: Record<string, string>;
  /** The underlying error, kept for logs; never shown to a client. */
  cause?: unknown;
}

/**
 * A failure with a catalogued code. `detail` is written for the client and must never contain
 * a secret, a stack, SQL or a third-party library's message.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail?: string, options: AppErrorOptions = {}) {
    const entry = errorCatalog[code];
    super(
      detail ?? entry.title,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.detail = detail ?? entry.title;
    this.errors = options.errors;
    this.headers = options.headers;
  }
}

/** True for an `AppError`, also across module copies (duck-typed on the catalog). */
export function isAppError(value: unknown): value is AppError {
  return (
    value instanceof AppError ||
    (value instanceof Error &&
      typeof (value as Partial<AppError>).code === 'string' &&
      Object.hasOwn(errorCatalog, (value as AppError).code) &&
      (value as Partial<AppError>).name === 'AppError')
  );
}

/**
 * A configuration problem found at start-up. It carries one line per bad setting; the CLI prints
 * them and exits non-zero, without a stack trace.
 */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
