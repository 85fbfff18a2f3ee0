import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, runNode, Spawned } from '../helpers/process.js';
import { silentRedis } from '../helpers/redis.js';
import { devCertFiles, tempDir } from '../helpers/tls.js';

// Runs the built CLI (npm test builds first): the real process, its signals and its exit codes.
const spawned: Spawned[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of spawned.splice(0)) s.kill();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function baseEnv(dir: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    BULWARK_LOG_LEVEL: 'info',
    BULWARK_DATABASE_SQLITE_PATH: join(dir, 'bulwark.db'),
    BULWARK_KEYS_MASTER_KEY: randomBytes(32).toString('base64'),
  };
}

/** Opens a TLS connection and resolves with it and the certificate the server presented. */
function tlsConnect(port: number): Promise<{ socket: TLSSocket; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () =>
      resolve({ socket, fingerprint: socket.getPeerX509Certificate()!.fingerprint256 }),
    );
    socket.once('error', reject);
  });
}

/** One keep-alive HTTP/1.1 request on an open TLS socket; resolves with the status line. */
function requestOn(socket: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const onData = (chunk: Buffer): void => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n') && data.includes('{"status":"ok"}')) {
        socket.off('data', onData);
        resolve(data.split('\r\n')[0]!);
      }
    };
    socket.on('data', onData);
    socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
}

const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256;

async function waitForLog(server: Spawned, pattern: RegExp, from: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pattern.test(server.stdout.slice(from))) {
    if (Date.now() > deadline) throw new Error(`no ${String(pattern)}:\n${server.stdout}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Two certificates in a fresh directory, and the cert.pem / key.pem the server is given, holding
 * the first: a test swaps in the second, then sends SIGHUP.
 */
function reloadableCert(): {
  dir: string;
  first: ReturnType<typeof devCertFiles>;
  second: ReturnType<typeof devCertFiles>;
  certFile: string;
  keyFile: string;
} {
  const dir = tempDir();
  dirs.push(dir);
  const first = devCertFiles(dir, 'first');
  const second = devCertFiles(dir, 'second');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  return { dir, first, second, certFile, keyFile };
}

describe('bulwark serve over HTTPS', () => {
  it('reloads certificate and key on SIGHUP without dropping open connections; a bad file keeps the old one', async () => {
    const { dir, first, second, certFile, keyFile } = reloadableCert();

    const server = new Spawned([BIN, 'serve'], {
      ...baseEnv(dir),
      BULWARK_TLS_CERT_FILE: certFile,
      BULWARK_TLS_KEY_FILE: keyFile,
    });
    spawned.push(server);
    const [, url] = await server.waitFor(/"url":"(https:[^"]+)"/);
    const port = Number(new URL(url!).port);

    const old = await tlsConnect(port);
    expect(old.fingerprint).toBe(fingerprintOf(first.cert));
    expect(await requestOn(old.socket)).toBe('HTTP/1.1 200 OK');

    copyFileSync(second.keyFile, keyFile);
    copyFileSync(second.certFile, certFile);
    let mark = server.stdout.length;
    server.child.kill('SIGHUP');
    await waitForLog(server, /TLS certificate reloaded/, mark);

    const fresh = await tlsConnect(port);
    expect(fresh.fingerprint).toBe(fingerprintOf(second.cert));
    fresh.socket.destroy();
    // The connection opened before the reload is still served.
    expect(await requestOn(old.socket)).toBe('HTTP/1.1 200 OK');
    old.socket.destroy();

    // A broken certificate on reload: the error is logged, the current certificate stays.
    const keyText = readFileSync(keyFile, 'utf8');
    writeFileSync(certFile, 'not a certificate\n');
    mark = server.stdout.length;
    server.child.kill('SIGHUP');
    await waitForLog(server, /TLS certificate reload failed/, mark);
    const after = await tlsConnect(port);
    expect(after.fingerprint).toBe(fingerprintOf(second.cert));
    expect(await requestOn(after.socket)).toBe('HTTP/1.1 200 OK');
    after.socket.destroy();
    const failure = server.stdout.slice(mark);
    expect(failure).toContain('"level":"error"');
    expect(failure).toContain('does not hold a PEM certificate');
    expect(failure).not.toContain(keyText.split('\n')[1]!);

    // A key that does not match the (restored) certificate is refused the same way.
    copyFileSync(second.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    mark = server.stdout.length;
    server.child.kill('SIGHUP');
    await waitForLog(server, /TLS certificate reload failed/, mark);
    const last = await tlsConnect(port);
    expect(last.fingerprint).toBe(fingerprintOf(second.cert));
    last.socket.destroy();
    expect(server.child.exitCode).toBeNull();

    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('survives a SIGHUP during start-up and reloads the certificate once started', async () => {
    const { dir, second, certFile, keyFile } = reloadableCert();
    // A "Redis" that accepts and never answers holds start-up in its connection wait: a
    // deterministic point inside start-up. Releasing it lets start-up go on.
    const silent = await silentRedis();
    try {
      const server = new Spawned([BIN, 'serve'], {
        ...baseEnv(dir),
        BULWARK_TLS_CERT_FILE: certFile,
        BULWARK_TLS_KEY_FILE: keyFile,
        REDIS_URL: silent.url,
        BULWARK_REDIS_CONNECT_TIMEOUT_MS: '60000',
      });
      spawned.push(server);
      await silent.reached;
      copyFileSync(second.keyFile, keyFile);
      copyFileSync(second.certFile, certFile);
      server.child.kill('SIGHUP');
      await waitForLog(server, /SIGHUP during start-up/, 0);
      // Node's default for SIGHUP is to exit: the process must still be starting.
      expect(server.child.exitCode).toBeNull();
      silent.release();
      const [, url] = await server.waitFor(/"url":"(https:[^"]+)"/);
      await waitForLog(server, /TLS certificate reloaded/, 0);
      const fresh = await tlsConnect(Number(new URL(url!).port));
      expect(fresh.fingerprint).toBe(fingerprintOf(second.cert));
      expect(await requestOn(fresh.socket)).toBe('HTTP/1.1 200 OK');
      fresh.socket.destroy();
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    } finally {
      silent.release();
    }
  });

  it('runs the redirect listener next to HTTPS: 308 to the configured origin', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const cert = devCertFiles(dir);
    const server = new Spawned([BIN, 'serve'], {
      ...baseEnv(dir),
      BULWARK_TLS_CERT_FILE: cert.certFile,
      BULWARK_TLS_KEY_FILE: cert.keyFile,
      BULWARK_SERVER_PUBLIC_ORIGIN: 'https://localhost:8443',
      BULWARK_SERVER_HTTP_REDIRECT_PORT: '0',
    });
    spawned.push(server);
    const [, redirectUrl] = await server.waitFor(/"redirectUrl":"(http:[^"]+)"/);
    const location = await new Promise<string | undefined>((resolve, reject) => {
      const req = request(
        `${redirectUrl}/api/v1/users?x=1`,
        { headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          expect(res.statusCode).toBe(308);
          resolve(res.headers.location);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(location).toBe('https://localhost:8443/api/v1/users?x=1');
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('exits 78 naming the file when the certificate cannot be read at start', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const cert = devCertFiles(dir);
    const res = await runNode([BIN, 'serve'], {
      env: {
        ...baseEnv(dir),
        BULWARK_TLS_CERT_FILE: join(dir, 'missing.pem'),
        BULWARK_TLS_KEY_FILE: cert.keyFile,
      },
    });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(
      `tls.certFile ${join(dir, 'missing.pem')} cannot be read (ENOENT)`,
    );
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 78 without printing key material when the key is invalid', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const cert = devCertFiles(dir);
    const other = devCertFiles(dir, 'other');
    const secret = readFileSync(other.keyFile, 'utf8');
    // A real key, slightly damaged: what a bad copy-paste produces.
    writeFileSync(other.keyFile, secret.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), {
      mode: 0o600,
    });
    const res = await runNode([BIN, 'serve'], {
      env: {
        ...baseEnv(dir),
        BULWARK_TLS_CERT_FILE: cert.certFile,
        BULWARK_TLS_KEY_FILE: other.keyFile,
      },
    });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('is not a usable PEM private key');
    for (const line of secret.split('\n').slice(1, -2))
      expect(res.stdout + res.stderr).not.toContain(line);
  });

  it('exits 78 when the key belongs to another certificate', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const cert = devCertFiles(dir);
    const other = devCertFiles(dir, 'other');
    const res = await runNode([BIN, 'serve'], {
      env: {
        ...baseEnv(dir),
        BULWARK_TLS_CERT_FILE: cert.certFile,
        BULWARK_TLS_KEY_FILE: other.keyFile,
      },
    });
    expect(res.code).toBe(78);
    expect(res.stderr, res.stderr).toContain('is not the private key of the certificate');
  });

  it('exits 78 for a redirect listener without a configured public origin', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const res = await runNode([BIN, 'serve'], {
      env: { ...baseEnv(dir), BULWARK_SERVER_HTTP_REDIRECT_PORT: '8080' },
    });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(
      'BULWARK_SERVER_HTTP_REDIRECT_PORT is set without server.publicOrigin',
    );
    expect(res.stderr).toContain('open redirect');
  });
});
