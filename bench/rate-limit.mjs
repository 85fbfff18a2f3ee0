// Cost of rate limiting on an authenticated GET (/api/v1/users/me): no limiter, the memory store
// and the Redis store, side by side in one run, with ratios to the no-limiter baseline.
// Run on the built dist: npm run build && npm run bench:rate-limit
// Env: REDIS_URL (default redis://127.0.0.1:6379), BENCH_DURATION_MS (5000), BENCH_CONNECTIONS (16),
// BENCH_ROUNDS (3).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfig } from '../dist/config/index.js';
import { startServer } from '../dist/server.js';
import { load as runLoad, unexpected } from './lib/harness.mjs';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5_000);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const masterKey = randomBytes(32).toString('base64');
const password = 'correct horse battery staple 42';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/** Starts one server, registers and logs in a user; returns what the load needs. */
async function setUp(name, input) {
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-bench-'));
  const prefix = `bwbench:${randomBytes(4).toString('hex')}:`;
  const config = createConfig({
    env: 'test',
    log: { level: 'error' },
    server: { host: '127.0.0.1', port: 0 },
    database: { sqlitePath: join(dir, 'bench.sqlite') },
    keys: { masterKey },
    passwords: { argon2MemoryKiB: 1024, argon2Iterations: 1 },
    redis: { keyPrefix: prefix, ...input.redis },
    rateLimit: { general: { points: 1_000_000 }, ...input.rateLimit },
  });
  const server = await startServer(config);
  const post = (path, body) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
  await post('/api/v1/auth/register', { email, password, name: 'Bench' });
  const login = await post('/api/v1/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`${name}: login failed with ${login.status}`);
  const { accessToken } = await login.json();
  return {
    name,
    target: `${server.url}/api/v1/users/me`,
    accessToken,
    runs: [],
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function load(variant, ms) {
  // The shared load generator (bench/lib/load.mjs, autocannon) in its own process.
  const result = await runLoad({
    url: variant.target,
    headers: { authorization: `Bearer ${variant.accessToken}` },
    connections,
    durationMs: ms,
  });
  if (unexpected(result) > 0) {
    console.warn(`${variant.name}: unexpected answers`, result.statuses, `errors=${result.errors}`);
  }
  return result;
}

const variants = [
  await setUp('no limiter', { rateLimit: { enabled: false } }),
  await setUp('memory store', {}),
];
try {
  variants.push(await setUp('redis store', { redis: { url: redisUrl, onOutage: 'failClosed' } }));
} catch (error) {
  console.warn(`redis store skipped: ${error.message}`);
}
try {
  // Warm every server first (JIT, pools, caches), then interleave the measured rounds so that
  // noise from other work on the machine hits every variant alike; the median round is reported.
  for (const variant of variants) await load(variant, Math.min(1_000, durationMs));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) variant.runs.push(await load(variant, durationMs));
  }
} finally {
  for (const variant of variants) await variant.close();
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = variants.map((v) => ({
  name: v.name,
  rps: median(v.runs.map((r) => r.rps)),
  p50: median(v.runs.map((r) => r.p50)),
  p99: median(v.runs.map((r) => r.p99)),
  requests: v.runs.reduce((n, r) => n + r.requests, 0),
}));

const base = results[0];
const rows = results.map((r) => ({
  variant: r.name,
  'req/s': r.rps.toFixed(0),
  'p50 ms': r.p50.toFixed(2),
  'p99 ms': r.p99.toFixed(2),
  'req/s ratio': (r.rps / base.rps).toFixed(2),
  'p99 ratio': (r.p99 / base.p99).toFixed(2),
  requests: r.requests,
}));
console.log(
  `authenticated GET /api/v1/users/me, ${connections} connections, median of ${rounds} rounds of ${durationMs} ms`,
);
console.table(rows);
