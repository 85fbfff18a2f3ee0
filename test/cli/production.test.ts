import { randomBytes } from 'node:crypto';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PUBLISHED_MASTER_KEYS } from '../../src/posture/index.js';
import { BIN, runNode, Spawned } from '../helpers/process.js';
import { caIssuedCertFiles, devCertFiles, tempDir } from '../helpers/tls.js';

// The real process with NODE_ENV=production: what an operator sees when a deploy is refused.
const spawned: Spawned[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of spawned.splice(0)) s.kill();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const MASTER_KEY = randomBytes(32).toString('base64');
const METRICS_TOKEN = randomBytes(24).toString('hex');

function workDir(): string {
  const dir = tempDir('bulwark-prod-');
  dirs.push(dir);
  return dir;
}

/** A production configuration that passes every check: TLS at a trusted proxy, real key. */
function goodEnv(dir: string): Record<string, string | undefined> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    BULWARK_DATABASE_SQLITE_PATH: join(dir, 'bulwark.db'),
    BULWARK_KEYS_DEV_KEY_FILE: join(dir, 'dev-master-key.json'),
    BULWARK_KEYS_MASTER_KEY: MASTER_KEY,
    BULWARK_SERVER_TRUST_PROXY: '10.0.0.5',
    BULWARK_DOCS_ENABLED: 'false',
    BULWARK_METRICS_TOKEN: METRICS_TOKEN,
  };
}

function keyFile(dir: string, name: string, key: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ current: 1, keys: { 1: key.toString('base64') } }), {
    mode: 0o600,
  });
  return path;
}

/** Sixteen random bytes from a pool of eight values: varied, but nowhere near 256 bits. */
function fewDistinctBytes(): Buffer {
  const pool = randomBytes(8);
  return Buffer.from(randomBytes(32).map((b) => pool[b % 8]!));
}

describe('production start-up refuses an unsafe configuration (exit 78)', () => {
  const cases: [string, (dir: string) => Record<string, string | undefined>, RegExp][] = [
    [
      'no master key',
      () => ({ BULWARK_KEYS_MASTER_KEY: undefined }),
      /no master key is configured.*production never uses one\. Fix: set BULWARK_MASTER_KEY/,
    ],
    [
      'the development key file as keys.masterKeyFile',
      (dir) => {
        const path = keyFile(dir, 'dev-master-key.json', randomBytes(32));
        return { BULWARK_KEYS_MASTER_KEY: undefined, BULWARK_KEYS_MASTER_KEY_FILE: path };
      },
      /keys\.masterKeyFile is the development key file/,
    ],
    [
      "the development key's value copied into BULWARK_MASTER_KEY",
      (dir) => {
        const key = randomBytes(32);
        keyFile(dir, 'dev-master-key.json', key);
        return { BULWARK_KEYS_MASTER_KEY: key.toString('base64') };
      },
      /is the generated development key from/,
    ],
    [
      'a key of one repeated byte',
      () => ({ BULWARK_KEYS_MASTER_KEY: Buffer.alloc(32, 0x9c).toString('base64') }),
      /is not 32 bytes of real entropy: it repeats a pattern of 1 byte/,
    ],
    [
      'a key that repeats 8 random bytes',
      () => {
        const part = randomBytes(8);
        return {
          BULWARK_KEYS_MASTER_KEY: Buffer.concat([part, part, part, part]).toString('base64'),
        };
      },
      /repeats a pattern of 8 bytes/,
    ],
    [
      'a key with very few distinct bytes',
      () => ({ BULWARK_KEYS_MASTER_KEY: fewDistinctBytes().toString('base64') }),
      /is not 32 bytes of real entropy/,
    ],
    [
      'a passphrase used as the key',
      () => ({
        BULWARK_KEYS_MASTER_KEY: Buffer.from('correct horse battery staple 123').toString('base64'),
      }),
      /printable text such as a passphrase/,
    ],
    [
      'the key published in our tests',
      () => ({ BULWARK_KEYS_MASTER_KEY: PUBLISHED_MASTER_KEYS[0] }),
      /is published in Bulwark's docs, examples or tests/,
    ],
    [
      'a weak key inside a key file',
      (dir) => ({
        BULWARK_KEYS_MASTER_KEY: undefined,
        BULWARK_KEYS_MASTER_KEY_FILE: keyFile(dir, 'prod-key.json', Buffer.alloc(32, 1)),
      }),
      /keys\.masterKeyFile .*prod-key\.json is not 32 bytes of real entropy/,
    ],
    [
      'CORS * with credentials',
      () => ({ BULWARK_CORS_ORIGINS: '*', BULWARK_CORS_CREDENTIALS: 'true' }),
      /allows any origin \("\*"\) while BULWARK_CORS_CREDENTIALS is true/,
    ],
    [
      'CORS * without credentials',
      () => ({ BULWARK_CORS_ORIGINS: '*' }),
      /cors\.origins allows any origin \("\*"\): every web site/,
    ],
    [
      'neither TLS nor a trusted proxy',
      () => ({ BULWARK_SERVER_TRUST_PROXY: undefined }),
      /neither TLS .* nor a trusted TLS-terminating proxy/,
    ],
    [
      'public docs without docs.publicInProduction',
      () => ({ BULWARK_DOCS_ENABLED: undefined }),
      /docs\.enabled is true in production while docs\.publicInProduction is false/,
    ],
    [
      'a metrics listener without a token',
      () => ({ BULWARK_METRICS_TOKEN: undefined, BULWARK_METRICS_PORT: '0' }),
      /the metrics listener on 127\.0\.0\.1:0 answers without a token/,
    ],
    [
      'rate limiting switched off',
      () => ({ BULWARK_RATE_LIMIT_ENABLED: 'false' }),
      /rateLimit\.enabled is false/,
    ],
    [
      'an admin default role',
      () => ({ BULWARK_ACCESS_DEFAULT_ROLE: 'admin' }),
      /anyone who registers becomes an administrator/,
    ],
    [
      'argon2 below OWASP',
      () => ({ BULWARK_PASSWORDS_ARGON2_MEMORY_KIB: '4096' }),
      /argon2id m=4096 KiB, t=2, p=1 is below every OWASP minimum/,
    ],
    [
      'the development certificate',
      (dir) => {
        const cert = devCertFiles(dir);
        return { BULWARK_TLS_CERT_FILE: cert.certFile, BULWARK_TLS_KEY_FILE: cert.keyFile };
      },
      /is a development certificate from `bulwark dev-cert`/,
    ],
    [
      'an expired certificate',
      (dir) => {
        const cert = caIssuedCertFiles({
          dir,
          notBefore: new Date(Date.now() - 90 * 86_400_000),
          notAfter: new Date(Date.now() - 86_400_000),
        });
        return { BULWARK_TLS_CERT_FILE: cert.certFile, BULWARK_TLS_KEY_FILE: cert.keyFile };
      },
      /expired on/,
    ],
  ];

  it.each(cases)('%s', async (_label, change, message) => {
    const dir = workDir();
    const env = { ...goodEnv(dir), ...change(dir) };
    const res = await runNode([BIN, 'serve'], { env });
    expect(res.code, res.stderr).toBe(78);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).toContain('Fix:');
    expect(res.stderr).not.toMatch(/\n\s+at /);
    // The refusal happens before anything listens or writes the database.
    expect(res.stdout).not.toContain('bulwark listening');
    // Secret values are never echoed.
    for (const secret of [env.BULWARK_KEYS_MASTER_KEY, METRICS_TOKEN]) {
      if (secret !== undefined) expect(res.stderr).not.toContain(secret);
    }
  });

  it('a --config file holding secrets that others can read (as doctor fails it)', async () => {
    const dir = workDir();
    const file = join(dir, 'bulwark.json');
    const { BULWARK_KEYS_MASTER_KEY: masterKey, ...env } = goodEnv(dir);
    writeFileSync(file, JSON.stringify({ keys: { masterKey } }), { mode: 0o644 });
    chmodSync(file, 0o644);
    const res = await runNode([BIN, 'serve', '--config', file], { env });
    expect(res.code, res.stderr).toBe(78);
    expect(res.stderr).toMatch(
      /checklist 9\] --config .*bulwark\.json holds secrets and is readable by group or others \(mode 0644\)\. Fix: chmod 600/,
    );
    expect(res.stdout).not.toContain('bulwark listening');
    expect(res.stderr).not.toContain(masterKey!);
  });

  it('lists every problem at once', async () => {
    const dir = workDir();
    const res = await runNode([BIN, 'serve'], {
      env: {
        ...goodEnv(dir),
        BULWARK_KEYS_MASTER_KEY: undefined,
        BULWARK_DOCS_ENABLED: undefined,
        BULWARK_TLS_CERT_FILE: join(dir, 'missing-cert.pem'),
        BULWARK_TLS_KEY_FILE: join(dir, 'missing-key.pem'),
      },
    });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('no master key is configured');
    expect(res.stderr).toContain('missing-cert.pem cannot be read (ENOENT)');
    expect(res.stderr).toContain('docs.enabled is true in production');
  });
});

describe('production start-up with a correct configuration', () => {
  it('starts behind a trusted TLS proxy', async () => {
    const dir = workDir();
    const server = new Spawned([BIN, 'serve'], goodEnv(dir));
    spawned.push(server);
    const [, url] = await server.waitFor(/"url":"(http:[^"]+)"/);
    const res = await fetch(`${url}/health/live`);
    expect(res.status).toBe(200);
    expect(server.stdout).toContain('"env":"production"');
    expect(server.stdout).not.toContain('unsafe_override');
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('starts with its own CA-issued certificate, a 0600 key file and published docs', async () => {
    const dir = workDir();
    const cert = caIssuedCertFiles({ dir, hosts: ['localhost'] });
    const env = {
      ...goodEnv(dir),
      BULWARK_SERVER_TRUST_PROXY: undefined,
      BULWARK_KEYS_MASTER_KEY: undefined,
      BULWARK_KEYS_MASTER_KEY_FILE: keyFile(dir, 'prod-key.json', randomBytes(32)),
      BULWARK_TLS_CERT_FILE: cert.certFile,
      BULWARK_TLS_KEY_FILE: cert.keyFile,
      BULWARK_SERVER_PUBLIC_ORIGIN: 'https://localhost',
      BULWARK_DOCS_ENABLED: 'true',
      BULWARK_DOCS_PUBLIC_IN_PRODUCTION: 'true',
    };
    const server = new Spawned([BIN, 'serve'], env);
    spawned.push(server);
    const [, url] = await server.waitFor(/"url":"(https:[^"]+)"/);
    const port = new URL(url!).port;
    const answer = await new Promise<{ status: number; hsts: unknown }>((resolve, reject) => {
      const req = request(`https://localhost:${port}/openapi.json`, { ca: cert.ca }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] });
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer).toEqual({ status: 200, hsts: 'max-age=31536000; includeSubDomains' });
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
