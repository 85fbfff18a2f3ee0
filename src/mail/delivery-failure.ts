/** What the mailer may know and log about one failed attempt. */
export interface DeliveryFailure {
  /** Worth another attempt later: the relay or the network may do better then. */
  transient: boolean;
  /** The SMTP reply code (RFC 5321 §4.2), when the relay answered with one. */
  responseCode?: number;
  /**
   * The most precise error code known: Node's or OpenSSL's under nodemailer's (`ECONNREFUSED`,
   * `DEPTH_ZERO_SELF_SIGNED_CERT`), else nodemailer's own (`ETIMEDOUT`, `ETLS`) or the file
   * system's (`ENOSPC`, for the outbox).
   */
  code?: string;
}

/**
 * Errors that end a connection rather than refuse the message: the next attempt, on a new
 * connection, may go through. TLS failures (`ETLS`: STARTTLS refused or an untrusted certificate)
 * and refused credentials (`EAUTH`) are not among them: they need an operator, not a retry.
 */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'EDNS']);

/**
 * A certificate that does not verify, or a TLS version or protocol mismatch: OpenSSL's and Node's
 * codes, which nodemailer keeps as `originalCode` under its `ESOCKET`.
 */
const TLS_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS_|^ERR_SSL_|^ETLS$/;

const SAFE_CODE = /^[A-Z][A-Z0-9_]{0,59}$/;

const safeCode = (value: unknown): string | undefined =>
  typeof value === 'string' && SAFE_CODE.test(value) ? value : undefined;

/**
 * Reduces a send error to what may be logged. The error's message and `response` are left
 * behind on purpose: an SMTP reply may echo the recipient or a line of the message, and a
 * connection error may name the relay URL.
 * @see https://www.rfc-editor.org/rfc/rfc5321#section-4.2.1 (4yz transient, 5yz permanent)
 */
export function deliveryFailure(error: unknown): DeliveryFailure {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as {
    responseCode?: unknown;
    code?: unknown;
    originalCode?: unknown;
  };
  const outer = safeCode(fields.code);
  const code = safeCode(fields.originalCode) ?? outer;
  const responseCode =
    typeof fields.responseCode === 'number' &&
    Number.isInteger(fields.responseCode) &&
    fields.responseCode >= 200 &&
    fields.responseCode < 600
      ? fields.responseCode
      : undefined;
  const transient =
    responseCode !== undefined
      ? responseCode >= 400 && responseCode < 500
      : outer !== undefined &&
        TRANSIENT_CODES.has(outer) &&
        !(code !== undefined && TLS_FAILURE.test(code));
  return {
    transient,
    ...(responseCode === undefined ? {} : { responseCode }),
    ...(code === undefined ? {} : { code }),
  };
}
