import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Forge from 'node-forge';
import { createDevCertificate } from '../../src/crypto/dev-certificate.js';

const forge = createRequire(import.meta.url)('node-forge') as typeof Forge;

export interface CertFiles {
  dir: string;
  certFile: string;
  keyFile: string;
  /** PEM of the certificate, to compare with what a server presents. */
  cert: string;
  /** PEM of the CA that signed it (for a CA-issued certificate), to trust in clients. */
  ca?: string;
  cleanup(): void;
}

function files(dir: string, name: string, cert: string, key: string, ca?: string): CertFiles {
  const certFile = join(dir, `${name}-cert.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  writeFileSync(certFile, cert, { mode: 0o644 });
  writeFileSync(keyFile, key, { mode: 0o600 });
  return {
    dir,
    certFile,
    keyFile,
    cert,
    ...(ca === undefined ? {} : { ca }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function tempDir(prefix = 'bulwark-tls-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A `bulwark dev-cert` certificate for localhost, written to a fresh temporary directory. */
export function devCertFiles(dir = tempDir(), name = 'dev'): CertFiles {
  const made = createDevCertificate({ days: 30 });
  return files(dir, name, made.cert, made.key);
}

function forgeKeyPair(modulusLength = 2048): {
  privateKey: Forge.pki.rsa.PrivateKey;
  publicKey: Forge.pki.rsa.PublicKey;
  pem: string;
} {
  const pair = generateKeyPairSync('rsa', { modulusLength });
  return {
    privateKey: forge.pki.privateKeyFromPem(
      pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    ),
    publicKey: forge.pki.publicKeyFromPem(
      pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ),
    pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * A server certificate for `hosts` issued by a throwaway test CA (what a production deployment
 * has: not self-signed, not a dev-cert). `notAfter` defaults to 90 days from now.
 */
export function caIssuedCertFiles(
  options: {
    hosts?: string[];
    notBefore?: Date;
    notAfter?: Date;
    dir?: string;
    /** Size of the leaf's RSA key (2048 by default). */
    rsaBits?: number;
  } = {},
): CertFiles {
  const hosts = options.hosts ?? ['api.example.test'];
  const caKeys = forgeKeyPair();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = `01${randomBytes(8).toString('hex')}`;
  ca.validity.notBefore = new Date(Date.now() - 86_400_000);
  ca.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  const caName = [{ name: 'commonName', value: 'Bulwark test CA' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const leafKeys = forgeKeyPair(options.rsaBits);
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKeys.publicKey;
  leaf.serialNumber = `02${randomBytes(8).toString('hex')}`;
  leaf.validity.notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  leaf.validity.notAfter = options.notAfter ?? new Date(Date.now() + 90 * 86_400_000);
  leaf.setSubject([{ name: 'commonName', value: hosts[0]! }]);
  leaf.setIssuer(caName);
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((h) => ({ type: 2, value: h })) },
  ]);
  leaf.sign(caKeys.privateKey, forge.md.sha256.create());
  return files(
    options.dir ?? tempDir(),
    'issued',
    forge.pki.certificateToPem(leaf),
    leafKeys.pem,
    forge.pki.certificateToPem(ca),
  );
}
