#!/usr/bin/env node
// `npm run audit:self`: starts the built service on its embedded defaults (a temporary directory,
// SQLite, generated development keys) on a free loopback port, registers a user, logs in, and
// runs `bulwark audit` against it with that user's access token. Exits with the scan's code
// (0: no fail). CI runs it after the tests: checklist line 15, "bulwark audit scans it in CI".
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

async function waitReady(url, child) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the service exited with ${child.exitCode} while starting`);
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the service was not ready within ${START_TIMEOUT_MS} ms`);
}

async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok)
    throw new Error(`POST ${new URL(url).pathname} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

const dir = await mkdtemp(join(tmpdir(), 'bulwark-audit-self-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME ?? dir,
  PORT: String(port),
  BULWARK_LOG_LEVEL: 'warn',
};
const server = spawn(process.execPath, [BIN, 'serve'], {
  cwd: dir,
  env,
  stdio: ['ignore', 'inherit', 'inherit'],
});
let code = 1;
try {
  await waitReady(url, server);
  const credentials = {
    email: 'audit-self@example.com',
    password: randomBytes(24).toString('base64url'),
  };
  await post(`${url}/api/v1/auth/register`, { ...credentials, name: 'Self scan' });
  const { accessToken } = await post(`${url}/api/v1/auth/login`, credentials);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, accessToken, { mode: 0o600 });
  const scan = spawn(
    process.execPath,
    [BIN, 'audit', url, '--token-file', tokenFile, ...process.argv.slice(2)],
    {
      env: { PATH: process.env.PATH },
      stdio: 'inherit',
    },
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
