import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runNode } from '../helpers/process.js';
import { tempDir } from '../helpers/tls.js';

// Runs the built CLI (npm test builds first).
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function outDir(): string {
  const dir = tempDir('bulwark-devcert-');
  dirs.push(dir);
  return join(dir, 'tls');
}

/** Files where dev-cert would write, made here: the CLI only looks whether they exist. */
function existing(out: string, names: string[]): void {
  mkdirSync(out, { recursive: true, mode: 0o700 });
  for (const name of names) writeFileSync(join(out, name), `earlier ${name}\n`, { mode: 0o600 });
}

describe('bulwark dev-cert', () => {
  it('writes a valid localhost certificate and its 0600 key, and prints how to use them', async () => {
    const out = outDir();
    const started = Date.now();
    const res = await runNode([BIN, 'dev-cert', '--out', out, '--days', '10']);
    expect(res.code).toBe(0);
    const certFile = join(out, 'localhost-cert.pem');
    const keyFile = join(out, 'localhost-key.pem');

    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(certFile).mode & 0o022).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o700);

    const cert = new X509Certificate(readFileSync(certFile));
    const key = createPrivateKey(readFileSync(keyFile));
    expect(cert.checkPrivateKey(key)).toBe(true);
    expect(cert.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth only
    expect(cert.verify(createPublicKey(key))).toBe(true); // self-signed
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    expect(notBefore).toBeLessThanOrEqual(started);
    expect(notAfter - started).toBeGreaterThan(10 * 86_400_000 - 120_000);
    expect(notAfter - started).toBeLessThan(10 * 86_400_000 + 120_000);

    expect(res.stdout).toContain(
      `BULWARK_TLS_CERT_FILE=${certFile} BULWARK_TLS_KEY_FILE=${keyFile}`,
    );
    expect(res.stdout).toContain(`"tls": { "certFile": "${certFile}", "keyFile": "${keyFile}" }`);
    expect(res.stdout).toContain(cert.fingerprint256);
    expect(res.stdout).toContain(`curl --cacert ${certFile} https://localhost:3000/health/live`);
    // The key itself is never printed.
    expect(res.stdout + res.stderr).not.toContain('PRIVATE KEY');
  });

  it('prints the port the service is set to listen on', async () => {
    const out = outDir();
    const res = await runNode([BIN, 'dev-cert', '--out', out], { env: { PORT: '8443' } });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`https://localhost:8443/health/live`);
    const canonical = await runNode([BIN, 'dev-cert', '--out', outDir()], {
      env: { PORT: '8443', BULWARK_SERVER_PORT: '9443' },
    });
    expect(canonical.stdout).toContain(`https://localhost:9443/health/live`);
  });

  it('refuses to overwrite existing files unless --force', async () => {
    const out = outDir();
    existing(out, ['localhost-cert.pem', 'localhost-key.pem']);
    const before = readFileSync(join(out, 'localhost-key.pem'), 'utf8');

    const again = await runNode([BIN, 'dev-cert', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exist');
    expect(again.stderr).toContain('--force');
    expect(readFileSync(join(out, 'localhost-key.pem'), 'utf8')).toBe(before);

    // A key file someone loosened is replaced by a new 0600 file, not rewritten in place.
    writeFileSync(join(out, 'localhost-key.pem'), before);
    chmodSync(join(out, 'localhost-key.pem'), 0o644);
    const forced = await runNode([BIN, 'dev-cert', '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(out, 'localhost-key.pem'), 'utf8')).not.toBe(before);
    expect(statSync(join(out, 'localhost-key.pem')).mode & 0o777).toBe(0o600);
  });

  it('refuses when only one of the two files exists', async () => {
    const out = outDir();
    existing(out, ['localhost-key.pem']);
    const res = await runNode([BIN, 'dev-cert', '--out', out]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('localhost-key.pem already exists');
    expect(existsSync(join(out, 'localhost-cert.pem'))).toBe(false);
  });

  it.each([['0'], ['826'], ['ten'], ['-5'], ['1.5']])(
    'refuses --days %s with exit code 2',
    async (days) => {
      const out = outDir();
      const res = await runNode([BIN, 'dev-cert', '--out', out, `--days=${days}`]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--days must be an integer from 1 to 825');
      expect(existsSync(out)).toBe(false);
    },
  );

  it('says so when the directory cannot be written', async () => {
    const parent = tempDir('bulwark-devcert-');
    dirs.push(parent);
    const blocker = join(parent, 'file');
    writeFileSync(blocker, 'x');
    const res = await runNode([BIN, 'dev-cert', '--out', join(blocker, 'tls')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/cannot write to .* \((ENOTDIR|EEXIST)\)/);
  });
});
