import { rootCertificates } from 'node:tls';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import { isLoopbackHost } from '../config/loopback.js';
import {
  readFailure,
  readFileBoundedSync,
  SETTINGS_FILE_MAX_BYTES,
} from '../files/read-bounded.js';

/** Where and how to reach the SMTP relay; see {@link smtpTransportOptions}. */
export interface SmtpTransport {
  kind: 'smtp';
  /** `smtps://user:password@host[:port]` (implicit TLS) or `smtp://…` (STARTTLS). */
  url: string;
  /** Bound of connecting, of the greeting and of each wait for the server, in milliseconds. */
  timeoutMs: number;
  /** PEM file of CAs trusted in addition to Node's bundled roots (a private relay's CA). */
  caFile?: string;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    // The message must not quote the part: it may be the password.
    throw new Error('mail transport URL: the user or password is not valid percent-encoding');
  }
}

/**
 * The nodemailer options for `transport`. The URL is parsed here rather than by nodemailer, whose
 * URL parser also reads options from the query string (`?tls.rejectUnauthorized=false`,
 * `?ignoreTLS=true`): a URL copied from somewhere must not be able to turn TLS checks off.
 * Errors never quote the URL, which carries the relay password.
 */
export function smtpTransportOptions(transport: SmtpTransport): SMTPTransportOptions {
  let url: URL;
  try {
    url = new URL(transport.url);
  } catch {
    // No cause: Node's TypeError carries the input, password included.
    throw new Error('mail transport URL is not a valid URL (smtp://host:port or smtps://host)');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new Error('mail transport URL must start with smtp:// (STARTTLS) or smtps:// (TLS)');
  }
  if (url.hostname === '') throw new Error('mail transport URL has no host');
  if (url.search !== '' || url.hash !== '' || (url.pathname !== '' && url.pathname !== '/')) {
    throw new Error('mail transport URL takes no path, query or fragment');
  }
  if (!Number.isInteger(transport.timeoutMs) || transport.timeoutMs <= 0) {
    throw new Error('mail transport timeoutMs must be a positive whole number of milliseconds');
  }
  const secure = url.protocol === 'smtps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const user = decode(url.username);
  const pass = decode(url.password);
  return {
    host,
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    // RFC 3207 STARTTLS is opportunistic by default: a man in the middle who strips the STARTTLS
    // capability gets the message (a password reset link) and the relay password in the clear.
    requireTLS: !secure && !isLoopbackHost(host),
    ...(user === '' ? {} : { auth: { user, pass } }),
    tls: {
      // Explicit although it is Node's default: a relay is trusted only with a valid certificate.
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ...(transport.caFile === undefined
        ? {}
        : { ca: [...rootCertificates, readCa(transport.caFile)] }),
    },
    connectionTimeout: transport.timeoutMs,
    greetingTimeout: transport.timeoutMs,
    socketTimeout: transport.timeoutMs,
    dnsTimeout: transport.timeoutMs,
    // Not pooled: account e-mails are few and far between, so a pool would mostly hold idle
    // connections that the relay drops on its own schedule. A connection per message is bounded
    // by the timeouts above and leaves nothing open between messages.
    pool: false,
    // nodemailer logs nothing unless given a logger; never give it one: with debug on it writes
    // the message (and its secret link) and the AUTH exchange.
    logger: false,
    debug: false,
    transactionLog: false,
    // The message is plain text built here; nothing in it may make nodemailer read a file or a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileBoundedSync(file, SETTINGS_FILE_MAX_BYTES).toString('utf8');
  } catch (error) {
    throw new Error(
      `mail transport caFile ${file} cannot be read (${readFailure(error, 'error')})`,
      {
        cause: error,
      },
    );
  }
  // Caught here rather than as a TLS failure on the first message, hours later.
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`mail transport caFile ${file} holds no PEM certificate`);
  }
  return pem;
}
