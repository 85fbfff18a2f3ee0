// The Bulwark server under test, built from dist/ with production settings, on a fresh SQLite
// database in a temporary directory. Its user is created the way an operator does it, with
// `bulwark user create` in a separate process before the server starts (registration, with its
// password-strength worker, is not part of what is measured); the server then logs in a few
// times (real sessions) and pre-mints a pool of distinct, valid access tokens for those sessions
// with its own issuer, so that "a fresh token per request" measures verification and not
// issuing. Prints one JSON line when ready.
//
// Usage: node bench/targets/bulwark.mjs '<json options>'
//   { store: 'memory' | 'redis', redisUrl?, tokens?: number, sessions?: number }
// Rate limits stay on (every request is counted) with limits no benchmark reaches.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConfig } from '../../dist/config/index.js';
import { startServer } from '../../dist/server.js';

const options = JSON.parse(process.argv[2] ?? '{}');
const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
const settings = {
  env: 'production',
  // Access lines off, like the baselines (which log nothing); warnings and errors still go out.
  log: { level: 'warn' },
  // A production posture: TLS terminates at a (loopback) proxy, docs are off.
  server: { host: '127.0.0.1', port: 0, trustProxy: ['127.0.0.1'] },
  docs: { enabled: false },
  database: { sqlitePath: join(dir, 'bench.sqlite') },
  keys: { masterKey: randomBytes(32).toString('base64') },
  ...(options.store === 'redis'
    ? {
        redis: {
          url: options.redisUrl ?? 'redis://127.0.0.1:6379',
          keyPrefix: `bwbench:${randomBytes(4).toString('hex')}:`,
          onOutage: 'failClosed',
        },
      }
    : {}),
  rateLimit: {
    general: { points: 1_000_000 },
    auth: { points: 1_000_000 },
    // Attempts are counted before the password check (and given back on success), so a storm
    // of parallel good logins on one account would otherwise be throttled as guessing.
    login: {
      accountClientFailures: 100_000,
      clientFailures: 1_000_000,
      accountFreeFailures: 1_000_000,
    },
  },
};
const config = createConfig(settings);

const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
const password = `correct horse battery staple ${randomBytes(3).toString('hex')}`;
// The same settings in a 0600 config file for the CLI (it holds the master key).
const configFile = join(dir, 'bulwark.json');
writeFileSync(configFile, JSON.stringify(settings), { mode: 0o600 });
execFileSync(
  process.execPath,
  [
    fileURLToPath(new URL('../../bin/bulwark.js', import.meta.url)),
    'user',
    'create',
    '--config',
    configFile,
    '--email',
    email,
    '--name',
    'Bench User',
    '--role',
    'user',
    '--password-stdin',
  ],
  {
    input: `${password}\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
    timeout: 30_000,
    // The config file only: an inherited DATABASE_URL, REDIS_URL or BULWARK_* (CI exports them
    // for the tests) would override it and point the CLI at another database.
    env: { PATH: process.env.PATH ?? '' },
  },
);

const server = await startServer(config);

async function post(path, body, token) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const sessions = [];
for (let i = 0; i < (options.sessions ?? 4); i++) {
  const login = await post('/api/v1/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  sessions.push(login.body.accessToken);
}
const me = await fetch(`${server.url}/api/v1/users/me`, {
  headers: { authorization: `Bearer ${sessions[0]}` },
});
const user = await me.json();
if (me.status !== 200 || user.email !== email) throw new Error(`/users/me answered ${me.status}`);

let tokensFile;
if (options.tokens) {
  const { accessTokens } = server.app.services;
  const claims = sessions.map((token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url')));
  const pool = [];
  for (let i = 0; i < options.tokens; i++) {
    const { sub, sid, role } = claims[i % claims.length];
    pool.push(await accessTokens.issue({ userId: sub, sessionId: sid, role }));
  }
  if (new Set(pool).size !== pool.length) throw new Error('token pool has duplicates');
  tokensFile = join(dir, 'tokens.txt');
  writeFileSync(tokensFile, pool.join('\n'));
}

process.stdout.write(
  JSON.stringify({
    url: server.url,
    pid: process.pid,
    token: sessions[0],
    tokensFile,
    email,
    password,
    user,
  }) + '\n',
);

async function stop() {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
