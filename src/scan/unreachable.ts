import { isUntrustedCertificate } from '../http/untrusted-certificate.js';
import type { ProbeError } from './client.js';

/** `target` with the other scheme, for the fix of a scheme that does not fit the port. */
function withScheme(target: URL, scheme: 'http:' | 'https:'): string {
  const other = new URL(target.href);
  other.protocol = scheme;
  return other.href;
}

/**
 * Why the first request to `target` failed, and the fix when the cause is a usual first-scan
 * mistake: https to a plain HTTP port (OpenSSL's "wrong version number", its text otherwise
 * quoted whole), http to an HTTPS port (the server hangs up), a certificate not trusted (a
 * self-signed or private CA's: the scan never skips verification, --ca names the CA).
 */
export function describeUnreachable(error: ProbeError, target: URL): string {
  const said = error.message.replace(/^GET \/: /, '');
  if (target.protocol === 'https:' && /wrong version number/.test(said)) {
    return `it does not answer in TLS on this port. Fix: if it serves plain HTTP there, scan ${withScheme(target, 'http:')}.`;
  }
  if (target.protocol === 'http:' && (error.code === 'ECONNRESET' || said === 'socket hang up')) {
    return `${said}. Fix: if it serves HTTPS there, scan ${withScheme(target, 'https:')}.`;
  }
  if (isUntrustedCertificate(error.code)) {
    return `${said}. Fix: give the certificate of the CA that signed it (for a self-signed one, the certificate itself) with --ca FILE.`;
  }
  return said;
}
