import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from '../config/index.js';
import { ConfigError } from '../errors.js';
import {
  readFailure,
  readFileBoundedSync,
  SETTINGS_FILE_MAX_BYTES,
} from '../files/read-bounded.js';

/**
 * TLS 1.2 cipher suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only — no RSA key
 * exchange, no DHE, no CBC, no SHA-1 MACs. TLS 1.3 suites are all AEAD with ephemeral keys; they
 * are listed explicitly because Node sets 1.3 suites from the same string.
 * @see https://wiki.mozilla.org/Security/Server_Side_TLS (intermediate, without DHE)
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The certificate and key read from tls.certFile / tls.keyFile. Holds a private key: never log it. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  passphrase?: string;
  /** The parsed leaf certificate, for logging its subject and expiry (public data). */
  leaf: X509Certificate;
}

/** The TLS settings of the HTTPS listener, before certificate and key are added. */
export function tlsServerOptions(
  tls: Config['tls'],
): Pick<SecureContextOptions, 'minVersion' | 'ciphers' | 'honorCipherOrder'> {
  return { minVersion: tls.minVersion, ciphers: TLS_CIPHERS, honorCipherOrder: true };
}

/** Everything the HTTPS listener (or `setSecureContext` on reload) needs. */
export function secureContextOptions(
  tls: Config['tls'],
  credentials: TlsCredentials,
): SecureContextOptions {
  return {
    ...tlsServerOptions(tls),
    cert: credentials.cert,
    key: credentials.key,
    ...(credentials.passphrase === undefined ? {} : { passphrase: credentials.passphrase }),
  };
}

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileBoundedSync(path, SETTINGS_FILE_MAX_BYTES);
  } catch (error) {
    throw new ConfigError([
      `${setting} ${path} cannot be read (${readFailure(error)}). Fix: point it at a readable PEM file (bulwark dev-cert makes one for localhost).`,
    ]);
  }
}

/**
 * Reads and checks tls.certFile and tls.keyFile: a PEM certificate, a private key that opens with
 * the passphrase, and that the two belong together. Messages name the files, never their
 * contents: OpenSSL's own text is dropped, not passed on.
 * @throws ConfigError when a file is missing, unreadable or invalid
 */
export function readTlsCredentials(tls: Config['tls']): TlsCredentials {
  if (tls.certFile === undefined || tls.keyFile === undefined) {
    throw new ConfigError([
      'tls.certFile and tls.keyFile must both be set to serve HTTPS. Fix: set both, or neither.',
    ]);
  }
  const cert = readPem(tls.certFile, 'tls.certFile');
  const key = readPem(tls.keyFile, 'tls.keyFile');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new ConfigError([
      `tls.certFile ${tls.certFile} does not hold a PEM certificate. Fix: use the certificate chain file (-----BEGIN CERTIFICATE-----), leaf first.`,
    ]);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key,
      format: 'pem',
      ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    });
  } catch {
    throw new ConfigError([
      `tls.keyFile ${tls.keyFile} is not a usable PEM private key${tls.passphrase === undefined ? ' (if it is encrypted, set tls.passphrase)' : ' or tls.passphrase does not open it'}. Fix: use the unencrypted key file of the certificate, or the right passphrase.`,
    ]);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError([
      `tls.keyFile ${tls.keyFile} is not the private key of the certificate in tls.certFile ${tls.certFile}. Fix: use the key the certificate was issued for.`,
    ]);
  }
  const credentials: TlsCredentials = {
    cert,
    key,
    leaf,
    ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
  };
  try {
    // The exact check the listener will make (chain parsing, key type vs. cipher policy).
    createSecureContext(secureContextOptions(tls, credentials));
  } catch (error) {
    throw new ConfigError([unusableForTls(tls, leaf, error)]);
  }
  return credentials;
}

/**
 * Why OpenSSL refused certificate and key together, in our words. A key that this Node.js
 * release's OpenSSL finds too small is named as such: OpenSSL 3.5 (Node.js 24) refuses an RSA key
 * under 2048 bits that OpenSSL 3.0 (Node.js 20 and 22) accepts.
 */
export function unusableForTls(tls: Config['tls'], leaf: X509Certificate, error: unknown): string {
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'ERR_SSL_EE_KEY_TOO_SMALL') {
    const { asymmetricKeyType: type, asymmetricKeyDetails: details } = leaf.publicKey;
    const size =
      type === 'rsa'
        ? `RSA key has ${details?.modulusLength ?? 0} bits; at least 2048 are needed`
        : `${type ?? 'public'} key${details?.namedCurve ? ` (${details.namedCurve})` : ''} is too small`;
    return `tls.certFile ${tls.certFile}: the certificate's ${size}, and the OpenSSL of this Node.js release refuses it for TLS. Fix: issue a certificate for an RSA-2048+ or a P-256 key.`;
  }
  return `tls.certFile ${tls.certFile} with tls.keyFile ${tls.keyFile} cannot be used for TLS. Fix: check the chain file holds PEM certificates only, leaf first.`;
}
