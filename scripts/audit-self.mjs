#!/usr/bin/env node
// `npm run audit:self`: starts the built service on its embedded defaults (a temporary directory,
// SQLite, generated development keys) serving HTTPS with a fresh `bulwark dev-cert` certificate
// on a free loopback port, registers a user, logs in, and runs `bulwark audit --strict` against
// it with that user's access token and the certificate as CA. Exits with the scan's code (0: no
// fail and no warning). CI runs it after the tests: checklist line 15, "bulwark audit scans it
// in CI". Extra arguments go to `bulwark audit`.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/bulwark.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One HTTPS request trusting only `ca`; resolves with { status, body }. */
function send(url, ca, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      ca,
      agent: false,
      timeout: 10_000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function waitReady(url, ca, child) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the service exited with ${child.exitCode} while starting`);
    const res = await send(`${url}/health/ready`, ca).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the service was not ready within ${START_TIMEOUT_MS} ms`);
}

async function post(url, ca, body) {
  const res = await send(url, ca, { method: 'POST', body });
  if (res.status >= 300)
    throw new Error(`POST ${new URL(url).pathname} answered ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

const dir = await mkdtemp(join(tmpdir(), 'bulwark-audit-self-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? dir };
const made = spawnSync(process.execPath, [BIN, 'dev-cert', '--out', join(dir, 'tls')], {
  cwd: dir,
  env,
  encoding: 'utf8',
});
if (made.status !== 0) {
  process.stderr.write(`audit:self: bulwark dev-cert failed: ${made.stderr}`);
  process.exit(1);
}
const certFile = join(dir, 'tls', 'localhost-cert.pem');
const ca = await readFile(certFile, 'utf8');
const port = await freePort();
const url = `https://localhost:${port}`;
const server = spawn(process.execPath, [BIN, 'serve'], {
  cwd: dir,
  env: {
    ...env,
    PORT: String(port),
    BULWARK_LOG_LEVEL: 'warn',
    BULWARK_TLS_CERT_FILE: certFile,
    BULWARK_TLS_KEY_FILE: join(dir, 'tls', 'localhost-key.pem'),
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
let code = 1;
try {
  await waitReady(url, ca, server);
  const credentials = {
    email: 'audit-self@example.com',
    password: randomBytes(24).toString('base64url'),
  };
  await post(`${url}/api/v1/auth/register`, ca, { ...credentials, name: 'Self scan' });
  const { accessToken } = await post(`${url}/api/v1/auth/login`, ca, credentials);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, accessToken, { mode: 0o600 });
  const scan = spawn(
    process.execPath,
    [
      BIN,
      'audit',
      url,
      '--token-file',
      tokenFile,
      '--ca',
      certFile,
      '--strict',
      ...process.argv.slice(2),
    ],
    { env: { PATH: process.env.PATH }, stdio: 'inherit' },
  );
  code = await new Promise((resolve) => scan.on('close', (exit) => resolve(exit ?? 1)));
} catch (error) {
  process.stderr.write(`audit:self: ${error.message}\n`);
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) =>
    server.exitCode === null ? server.once('close', resolve) : resolve(),
  );
  await rm(dir, { recursive: true, force: true });
}
process.exit(code);
