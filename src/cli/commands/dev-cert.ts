import { X509Certificate } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectorySync } from '../../files/make-directory.js';
import { createDevCertificate, MAX_DEV_CERT_DAYS } from '../../crypto/dev-certificate.js';
import { CliError, CliUsageError, parseCommandArgs, type Command } from '../args.js';
import { pathIn } from '../io.js';

export const CERT_FILE_NAME = 'localhost-cert.pem';
export const KEY_FILE_NAME = 'localhost-key.pem';
const DEFAULT_DIR = './data/tls';
const DEFAULT_DAYS = 90;

/**
 * The port `bulwark serve` would listen on, from the same environment variables (the canonical
 * name first); the default when neither holds a port number.
 */
function servePort(env: Record<string, string | undefined>): number {
  for (const value of [env.BULWARK_SERVER_PORT, env.PORT]) {
    if (value !== undefined && /^\d{1,5}$/.test(value.trim()) && Number(value) <= 65_535) {
      return Number(value);
    }
  }
  return 3000;
}

/** Shell-quotes a path only when it needs it, so the printed lines paste as they are. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

export const devCert: Command = {
  synopsis: 'dev-cert',
  summary: 'write a self-signed localhost certificate to try HTTPS',
  usage: [
    'Usage: bulwark dev-cert [--out DIR] [--days N] [--force]',
    '',
    `Writes a self-signed certificate for localhost (SAN DNS:localhost, IP:127.0.0.1, IP:::1) to`,
    `DIR/${CERT_FILE_NAME} and its private key to DIR/${KEY_FILE_NAME} (mode 0600), then prints`,
    'the settings that serve HTTPS with them. For development only: browsers do not trust it, and',
    'production refuses to start with it.',
    '',
    'Options:',
    `  --out DIR   directory to write to (default ${DEFAULT_DIR}; created with mode 0700)`,
    `  --days N    validity in days, 1 to ${MAX_DEV_CERT_DAYS} (default ${DEFAULT_DAYS})`,
    '  --force     replace existing files',
  ].join('\n'),
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      out: { type: 'string' },
      days: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (positionals.length > 0) throw new CliUsageError('dev-cert takes no arguments');
    const daysText = values.days ?? String(DEFAULT_DAYS);
    const days = /^\d{1,4}$/.test(daysText) ? Number(daysText) : NaN;
    if (!(days >= 1 && days <= MAX_DEV_CERT_DAYS)) {
      throw new CliUsageError(`--days must be an integer from 1 to ${MAX_DEV_CERT_DAYS}`);
    }
    const dir = values.out ?? DEFAULT_DIR;
    const certPath = join(dir, CERT_FILE_NAME);
    const keyPath = join(dir, KEY_FILE_NAME);
    if (!values.force) {
      const existing = [certPath, keyPath].filter((path) => existsSync(pathIn(io, path)));
      if (existing.length > 0) {
        throw new CliError(
          `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}. Fix: pass --force to replace, or --out another directory.`,
        );
      }
    }
    const made = createDevCertificate({ days });
    try {
      makeDirectorySync(pathIn(io, dir), 0o700);
      if (values.force) {
        // Removed, not overwritten: an old key file keeps its old mode, which may be wider.
        rmSync(pathIn(io, keyPath), { force: true });
        rmSync(pathIn(io, certPath), { force: true });
      }
      // Created 0600 in one step, so the key is never readable by others, not even briefly.
      writeFileSync(pathIn(io, keyPath), made.key, { mode: 0o600, flag: 'wx' });
      writeFileSync(pathIn(io, certPath), made.cert, { mode: 0o644, flag: 'wx' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new CliError(`cannot write to ${dir} (${code}). Fix: choose a writable --out DIR.`);
    }
    const fingerprint = new X509Certificate(made.cert).fingerprint256;
    const cert = shellWord(certPath);
    const key = shellWord(keyPath);
    io.stdout.write(
      [
        `Wrote a self-signed certificate for localhost, valid until ${made.notAfter.toISOString()}:`,
        `  certificate  ${certPath}`,
        `  private key  ${keyPath} (mode 0600)`,
        `  SHA-256      ${fingerprint}`,
        '',
        'Serve HTTPS with it (environment):',
        `  BULWARK_TLS_CERT_FILE=${cert} BULWARK_TLS_KEY_FILE=${key} npm start`,
        'or in a JSON config file (--config):',
        `  "tls": { "certFile": ${JSON.stringify(certPath)}, "keyFile": ${JSON.stringify(keyPath)} }`,
        'then try:',
        `  curl --cacert ${cert} https://localhost:${servePort(io.env)}/health/live`,
        '',
        'Browsers do not trust this certificate; never use it in production (production refuses it).',
        '',
      ].join('\n'),
    );
    return Promise.resolve(0);
  },
};
