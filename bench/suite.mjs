// The benchmark suite of issue #8: Bulwark against two baselines, side by side in one run.
//   npm run bench            full run (a few minutes; medians of alternated, repeated rounds)
//   npm run bench -- --smoke ~10 s: proves every target starts and answers correctly, and that
//                            the results JSON is written. Its figures mean nothing.
// Every target runs in its own process and the load comes from another (autocannon), on
// loopback. Results: a table on stdout, ratios against the targets with PASS/MISS, and
// bench/results/<timestamp>.json. Env: REDIS_URL (default redis://127.0.0.1:6379),
// BENCH_DURATION_MS, BENCH_ROUNDS, BENCH_CONNECTIONS override the run lengths.
// Exits 1 when a target fails to start or gives a wrong answer (a status other than the
// expected one, during the checks or under load); a MISS does not change the exit code.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuSeconds, load, sampleRss, spread, startTarget, unexpected } from './lib/harness.mjs';

const smoke = process.argv.includes('--smoke');
const env = process.env;
const P = smoke
  ? {
      durationMs: 700,
      warmupMs: 300,
      rounds: 1,
      connections: 8,
      startups: 1,
      hashSamples: 2,
      hashSustainMs: 300,
      loginMs: 700,
      poolSize: 1_000,
    }
  : {
      durationMs: Number(env.BENCH_DURATION_MS ?? 5_000),
      warmupMs: 2_000,
      rounds: Number(env.BENCH_ROUNDS ?? 3),
      connections: Number(env.BENCH_CONNECTIONS ?? 16),
      startups: 7,
      hashSamples: 9,
      hashSustainMs: 3_000,
      loginMs: Number(env.BENCH_DURATION_MS ?? 5_000),
      poolSize: 40_000,
    };
/** Fixed request rate of the /users/me probe in the login-storm test (latency, not throughput). */
const PROBE_RATE = 100;
const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
/**
 * The memory settings docs/operations.md gives operators (set outside the process: V8 reads its
 * young-generation size only from the command line, glibc its arena count only from the
 * environment). Measured on a target of their own, beside the defaults, which the targets judge.
 */
const MEMORY_SETTINGS = {
  NODE_OPTIONS: [env.NODE_OPTIONS, '--max-semi-space-size=4'].filter(Boolean).join(' '),
  MALLOC_ARENA_MAX: '2',
};
const limitMs = smoke ? 90_000 : 300_000;
const startedAt = new Date();
const t0 = performance.now();
const watchdog = setTimeout(() => {
  console.error(`bench: over its ${limitMs / 1000} s bound: aborting`);
  process.exit(1);
}, limitMs);
watchdog.unref();

const problems = [];
const stoppers = [];
const log = (...args) =>
  console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s]`, ...args);

function check(condition, message) {
  if (!condition) {
    problems.push(message);
    console.error(`CHECK FAILED: ${message}`);
  }
}

async function get(url, headers = {}) {
  const response = await fetch(url, { headers });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body };
}

async function startAll() {
  // Started together (nothing is measured yet); each one is stopped at the end even if another
  // failed to start.
  const started = await Promise.allSettled([
    startTarget('A', 'targets/fastify-bare.mjs'),
    startTarget('B', 'targets/express-classic.mjs'),
    startTarget('bulwark', 'targets/bulwark.mjs', [JSON.stringify({ store: 'memory' })]),
    startTarget('bulwark-fresh', 'targets/bulwark.mjs', [
      JSON.stringify({ store: 'memory', tokens: P.poolSize }),
    ]),
    startTarget('bulwark-redis', 'targets/bulwark.mjs', [
      JSON.stringify({ store: 'redis', redisUrl }),
    ]),
    startTarget('bulwark-lean', 'targets/bulwark.mjs', [JSON.stringify({ store: 'memory' })], {
      env: MEMORY_SETTINGS,
    }),
  ]);
  for (const outcome of started)
    if (outcome.status === 'fulfilled') stoppers.push(outcome.value.stop);
  const failed = started.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  const [A, B, mem, fresh, redis, lean] = started.map((outcome) => outcome.value);
  return { A, B, mem, fresh, redis, lean };
}

/** Every target answers correctly before anything is measured. */
async function verify({ A, B, mem, fresh, redis, lean }) {
  const a = await get(A.url);
  check(a.status === 200 && a.body?.hello === 'world', `A: GET answered ${a.status}`);

  const b = await get(B.url, { authorization: `Bearer ${B.token}` });
  check(b.status === 200 && b.body?.email === B.user.email, `B: GET answered ${b.status}`);
  check(b.headers.get('x-content-type-options') === 'nosniff', 'B: helmet headers missing');
  check((await get(B.url)).status === 401, 'B: no token must be refused');
  const bForged = await get(B.url, { authorization: `Bearer ${B.token.slice(0, -2)}xx` });
  check(bForged.status === 403, 'B: a forged token must be refused');

  for (const target of [mem, fresh, redis, lean]) {
    const me = `${target.url}/api/v1/users/me`;
    const ok = await get(me, { authorization: `Bearer ${target.token}` });
    check(
      ok.status === 200 && ok.body?.email === target.email && ok.body?.id === target.user.id,
      `${target.name}: /users/me answered ${ok.status}`,
    );
    check(ok.headers.get('ratelimit-limit') !== null, `${target.name}: rate limit not applied`);
    check(
      ok.headers.get('content-security-policy') !== null,
      `${target.name}: no security headers`,
    );
    check((await get(me)).status === 401, `${target.name}: no token must be refused`);
    const [h, p, s] = target.token.split('.');
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    const forged = await get(me, { authorization: `Bearer ${flipped}` });
    check(forged.status === 401, `${target.name}: a tampered signature must be refused`);
    const ready = await get(`${target.url}/health/ready`);
    check(ready.status === 200, `${target.name}: /health/ready answered ${ready.status}`);
    if (target === redis) {
      check(
        ready.body?.checks?.redis !== undefined || JSON.stringify(ready.body).includes('redis'),
        'bulwark-redis: readiness does not report Redis',
      );
    }
  }
  const login = await fetch(`${mem.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: mem.email, password: mem.password }),
  });
  const loginBody = await login.json();
  check(
    login.status === 200 && typeof loginBody.accessToken === 'string',
    `login answered ${login.status}`,
  );
}

function loadOk(name, result, expected = 200) {
  const bad = unexpected(result, expected);
  check(
    bad === 0,
    `${name}: ${bad} unexpected answers under load ${JSON.stringify(result.statuses)} errors=${result.errors} timeouts=${result.timeouts}`,
  );
  return result;
}

async function throughput(t) {
  const auth = (token) => ({ authorization: `Bearer ${token}` });
  const perRun = Math.ceil(P.poolSize / (P.rounds + 1));
  const cases = [
    { key: 'A', label: 'A  bare Fastify, fixed JSON', target: t.A, spec: () => ({ url: t.A.url }) },
    {
      key: 'B',
      label: 'B  Express+helmet+rate-limit+jsonwebtoken',
      target: t.B,
      spec: () => ({ url: t.B.url, headers: auth(t.B.token) }),
    },
    {
      key: '3a',
      label: '3a Bulwark /users/me, one token',
      target: t.mem,
      pid: t.mem.pid,
      spec: () => ({ url: `${t.mem.url}/api/v1/users/me`, headers: auth(t.mem.token) }),
    },
    {
      key: '3b',
      label: '3b Bulwark /users/me, fresh token each',
      target: t.fresh,
      spec: (round) => ({
        url: `${t.fresh.url}/api/v1/users/me`,
        tokensFile: t.fresh.tokensFile,
        tokenOffset: (round + 1) * perRun,
      }),
    },
    {
      key: '3c',
      label: '3c Bulwark /users/me, Redis store',
      target: t.redis,
      spec: () => ({ url: `${t.redis.url}/api/v1/users/me`, headers: auth(t.redis.token) }),
    },
    {
      key: '3a-mem',
      label: '3a′ same as 3a, memory settings of docs/operations.md',
      target: t.lean,
      pid: t.lean.pid,
      spec: () => ({ url: `${t.lean.url}/api/v1/users/me`, headers: auth(t.lean.token) }),
    },
  ];
  if (smoke) {
    // Proves each case answers correctly under load; run together, the figures mean nothing.
    await Promise.all(
      cases.map(async (c) => {
        c.runs = [
          loadOk(
            c.key,
            await load({ ...c.spec(0), connections: P.connections, durationMs: P.durationMs }),
          ),
        ];
      }),
    );
    return { cases, rss: {} };
  }
  for (const c of cases) {
    c.runs = [];
    loadOk(
      `${c.key} warm-up`,
      await load({ ...c.spec(-1), connections: P.connections, durationMs: P.warmupMs }),
    );
  }
  const rss = {};
  for (let round = 0; round < P.rounds; round++) {
    const order = round % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) {
      const stopRss = c.pid ? sampleRss(c.pid) : undefined;
      const cpuBefore = cpuSeconds(c.target.pid);
      const result = loadOk(
        c.key,
        await load({ ...c.spec(round), connections: P.connections, durationMs: P.durationMs }),
      );
      result.cpuUsPerRequest = ((cpuSeconds(c.target.pid) - cpuBefore) * 1e6) / result.requests;
      if (stopRss) rss[c.key] = Math.max(rss[c.key] ?? 0, stopRss());
      c.runs.push(result);
      log(`${c.key} round ${round + 1}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99} ms`);
    }
  }
  return { cases, rss };
}

async function logins(t) {
  const hash = JSON.parse(
    (
      await promisify(execFile)(process.execPath, [
        fileURLToPath(new URL('./targets/hash-time.mjs', import.meta.url)),
        String(P.hashSamples),
        String(P.hashSustainMs),
      ])
    ).stdout,
  );
  const limit = hash.cores / (hash.msPerVerify / 1000);
  log(
    `argon2id verify ${hash.msPerVerify.toFixed(1)} ms on ${hash.cores} cores: limit ${limit.toFixed(0)} logins/s (${hash.allCoresPerSecond.toFixed(0)}/s sustained with all cores hashing)`,
  );
  const loginSpec = {
    url: `${t.mem.url}/api/v1/auth/login`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: t.mem.email, password: t.mem.password }),
    connections: P.connections,
  };
  const probeSpec = {
    url: `${t.mem.url}/api/v1/users/me`,
    headers: { authorization: `Bearer ${t.mem.token}` },
    connections: 4,
    overallRate: PROBE_RATE,
    durationMs: P.loginMs,
  };
  const stopRss = sampleRss(t.mem.pid);
  loadOk('login warm-up', await load({ ...loginSpec, durationMs: Math.min(P.warmupMs, 1_000) }));
  const runs = { login: [], rest: [], storm: [], stormLogin: [] };
  for (let round = 0; round < P.rounds; round++) {
    const cpuBefore = cpuSeconds(t.mem.pid);
    const loginRun = loadOk('login', await load({ ...loginSpec, durationMs: P.loginMs }));
    // All threads of the server: the hashes on the pool plus the event loop's share.
    loginRun.cpuMsPerLogin = ((cpuSeconds(t.mem.pid) - cpuBefore) * 1e3) / loginRun.requests;
    runs.login.push(loginRun);
    const measure = async (kind) => {
      if (kind === 'rest') {
        runs.rest.push(loadOk('probe at rest', await load(probeSpec)));
      } else {
        const [probe, storm] = await Promise.all([
          load(probeSpec),
          load({ ...loginSpec, durationMs: P.loginMs + 500 }),
        ]);
        runs.storm.push(loadOk('probe in storm', probe));
        runs.stormLogin.push(loadOk('login storm', storm));
      }
    };
    for (const kind of round % 2 === 0 ? ['rest', 'storm'] : ['storm', 'rest']) await measure(kind);
    log(
      `login round ${round + 1}: ${runs.login.at(-1).rps.toFixed(0)} logins/s; /users/me p99 at rest ${runs.rest.at(-1).p99} ms, in storm ${runs.storm.at(-1).p99} ms`,
    );
  }
  const rss = stopRss();
  // The same storm on the target with the memory settings: its peak RSS and logins/s.
  const leanSpec = {
    ...loginSpec,
    url: `${t.lean.url}/api/v1/auth/login`,
    body: JSON.stringify({ email: t.lean.email, password: t.lean.password }),
  };
  const stopLeanRss = sampleRss(t.lean.pid);
  loadOk('login warm-up (memory settings)', await load({ ...leanSpec, durationMs: 1_000 }));
  const lean = loadOk(
    'login (memory settings)',
    await load({ ...leanSpec, durationMs: P.loginMs }),
  );
  return { hash, limit, runs, rss, lean: { rps: lean.rps, rss: stopLeanRss() } };
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function readyOnce(port) {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/health/ready', agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode);
      },
    );
    req.on('error', () => resolve(0));
    req.setTimeout(1_000, () => req.destroy());
  });
}

/** Spawn of `bulwark serve` to the first 200 on /health/ready (SQLite); stops it after. */
async function startOnce(dir, masterKey) {
  const port = await freePort();
  const t = performance.now();
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('../bin/bulwark.js', import.meta.url)), 'serve'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: env.PATH,
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        BULWARK_MASTER_KEY: masterKey,
        BULWARK_DATABASE_SQLITE_PATH: join(dir, 'start.sqlite'),
        BULWARK_LOG_LEVEL: 'warn',
        // A production posture: TLS terminates at a (loopback) proxy, docs are off.
        BULWARK_SERVER_TRUST_PROXY: '127.0.0.1',
        BULWARK_DOCS_ENABLED: 'false',
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-2_000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let ms;
  // CPU the process used to get there (all threads): close to the wall time on an idle machine,
  // and much less sensitive than the wall time to other work on a busy one.
  let cpuMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`bulwark serve exited ${child.exitCode}: ${stderr}`);
    if ((await readyOnce(port)) === 200) {
      ms = performance.now() - t;
      cpuMs = (cpuSeconds(child.pid) ?? Number.NaN) * 1000;
      break;
    }
    if (performance.now() - t > 20_000) {
      child.kill('SIGKILL');
      throw new Error(`bulwark serve not ready after 20 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill('SIGTERM');
  const code = await exited;
  check(code === 0, `bulwark serve: SIGTERM exit code ${code}`);
  return { ms, cpuMs };
}

async function startup() {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-start-'));
  const masterKey = randomBytes(32).toString('base64');
  try {
    const first = (await startOnce(dir, masterKey)).ms;
    const restarts = [];
    const cpu = [];
    for (let i = 0; i < P.startups; i++) {
      const { ms, cpuMs } = await startOnce(dir, masterKey);
      restarts.push(ms);
      cpu.push(cpuMs);
    }
    return { firstMs: first, restartsMs: restarts, restartsCpuMs: cpu };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

let exitCode = 0;
let targets;
try {
  log(
    `bench${smoke ? ' (smoke)' : ''}: ${P.rounds} round(s) of ${P.durationMs} ms, ${P.connections} connections, ${availableParallelism()} cores, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const started = await startup();
  log(
    `start-up: first ${fmt(started.firstMs)} ms, restarts ${started.restartsMs.map((m) => fmt(m)).join(' ')} ms`,
  );
  targets = await startAll();
  await verify(targets);
  if (problems.length > 0) throw new Error('targets answered wrongly: nothing measured');
  log('every target answered correctly; measuring');
  const { cases, rss } = await throughput(targets);
  const rss3a = rss['3a'] ?? 0;
  const login = await logins(targets);

  const by = Object.fromEntries(
    cases.map((c) => [
      c.key,
      {
        ...c,
        rps: spread(c.runs.map((r) => r.rps)),
        p50: spread(c.runs.map((r) => r.p50)),
        p99: spread(c.runs.map((r) => r.p99)),
        cpu: spread(c.runs.map((r) => r.cpuUsPerRequest ?? Number.NaN)),
      },
    ]),
  );
  const loginRps = spread(login.runs.login.map((r) => r.rps));
  const loginCpu = spread(login.runs.login.map((r) => r.cpuMsPerLogin ?? Number.NaN));
  const restP99 = spread(login.runs.rest.map((r) => r.p99));
  const stormP99 = spread(login.runs.storm.map((r) => r.p99));
  const startMs = spread(started.restartsMs);
  const startCpuMs = spread(started.restartsCpuMs);
  const rps = (k) => by[k].rps.median;

  console.log(
    `\nThroughput (median of ${P.rounds}, min–max), ${P.connections} connections, ${P.durationMs} ms per run`,
  );
  console.table(
    cases.map((c) => ({
      target: c.label,
      'req/s': fmt(by[c.key].rps.median),
      'min–max': `${fmt(by[c.key].rps.min)}–${fmt(by[c.key].rps.max)}`,
      'p50 ms': fmt(by[c.key].p50.median, 2),
      'p99 ms': fmt(by[c.key].p99.median, 2),
      'server CPU µs/req': fmt(by[c.key].cpu.median),
    })),
  );
  console.log('Login and memory');
  console.table([
    {
      measure: `argon2id verify (m=${login.hash.params.memoryKiB} t=${login.hash.params.iterations} p=${login.hash.params.parallelism})`,
      median: `${fmt(login.hash.msPerVerify, 1)} ms`,
      'min–max': `${fmt(Math.min(...login.hash.samples), 1)}–${fmt(Math.max(...login.hash.samples), 1)}`,
    },
    {
      measure: `hashing limit (${login.hash.cores} cores ÷ time per hash)`,
      median: `${fmt(login.limit)} /s`,
      'min–max': '',
    },
    {
      measure: `verifications/s sustained with all ${login.hash.cores} cores hashing (for information)`,
      median: `${fmt(login.hash.allCoresPerSecond)} /s`,
      'min–max': '',
    },
    {
      measure: 'POST /auth/login',
      median: `${fmt(loginRps.median)} /s`,
      'min–max': `${fmt(loginRps.min)}–${fmt(loginRps.max)}`,
    },
    {
      measure: 'logins ÷ verifications/s with all cores hashing',
      median: `${fmt(loginRps.median / login.hash.allCoresPerSecond, 2)}×`,
      'min–max': '',
    },
    {
      measure: 'server CPU per login (all threads)',
      median: `${fmt(loginCpu.median, 1)} ms`,
      'min–max': `${fmt(loginCpu.min, 1)}–${fmt(loginCpu.max, 1)}`,
    },
    {
      measure: `/users/me p99 at rest (${PROBE_RATE} req/s)`,
      median: `${fmt(restP99.median, 2)} ms`,
      'min–max': `${fmt(restP99.min, 2)}–${fmt(restP99.max, 2)}`,
    },
    {
      measure: `/users/me p99 in login storm`,
      median: `${fmt(stormP99.median, 2)} ms`,
      'min–max': `${fmt(stormP99.min, 2)}–${fmt(stormP99.max, 2)}`,
    },
    {
      measure: 'peak RSS during 3a',
      // The smoke runs the loads in parallel, where one process's peak means nothing.
      median: rss3a > 0 ? `${fmt(rss3a, 1)} MB` : 'not measured (smoke)',
      'min–max': '',
    },
    { measure: 'peak RSS during login', median: `${fmt(login.rss, 1)} MB`, 'min–max': '' },
    {
      measure: 'peak RSS during 3a′ (memory settings)',
      median: rss['3a-mem'] ? `${fmt(rss['3a-mem'], 1)} MB` : 'not measured (smoke)',
      'min–max': '',
    },
    {
      measure: 'peak RSS during login (memory settings)',
      median: `${fmt(login.lean.rss, 1)} MB`,
      'min–max': '',
    },
    {
      measure: 'POST /auth/login (memory settings, one run)',
      median: `${fmt(login.lean.rps)} /s`,
      'min–max': '',
    },
    {
      measure: 'start-up to /health/ready 200 (SQLite, restart)',
      median: `${fmt(startMs.median)} ms`,
      'min–max': `${fmt(startMs.min)}–${fmt(startMs.max)}`,
    },
    {
      measure: 'start-up CPU of the process to that 200 (restart)',
      median: `${fmt(startCpuMs.median)} ms`,
      'min–max': `${fmt(startCpuMs.min)}–${fmt(startCpuMs.max)}`,
    },
    {
      measure: 'start-up, first start (migrate + create key)',
      median: `${fmt(started.firstMs)} ms`,
      'min–max': '',
    },
  ]);

  const goals = [
    { goal: '3a ≥ 50% of A', value: rps('3a') / rps('A'), target: 0.5, higher: true },
    { goal: '3a ≥ 10× B', value: rps('3a') / rps('B'), target: 10, higher: true },
    { goal: '3b ≥ 3× B', value: rps('3b') / rps('B'), target: 3, higher: true },
    { goal: '3c within 10% of 3a', value: rps('3c') / rps('3a'), target: 0.9, higher: true },
    {
      goal: 'login ≥ 90% of hashing limit',
      value: loginRps.median / login.limit,
      target: 0.9,
      higher: true,
    },
    {
      goal: 'p99 in storm ≤ 3× at rest',
      value: stormP99.median / restP99.median,
      target: 3,
      higher: false,
    },
    {
      goal: 'peak RSS ≤ 150 MB',
      value: Math.max(rss3a, login.rss),
      target: 150,
      higher: false,
      unit: 'MB',
    },
    {
      goal: 'peak RSS ≤ 150 MB, memory settings (information)',
      value: Math.max(rss['3a-mem'] ?? 0, login.lean.rss),
      target: 150,
      higher: false,
      unit: 'MB',
    },
    { goal: 'start-up ≤ 1 s', value: startMs.median, target: 1000, higher: false, unit: 'ms' },
  ].map((g) => ({ ...g, pass: g.higher ? g.value >= g.target : g.value <= g.target }));
  console.log('Targets (ratios from this run)');
  console.table(
    goals.map((g) => ({
      goal: g.goal,
      reached: g.unit ? `${fmt(g.value, 1)} ${g.unit}` : `${fmt(g.value, 2)}×`,
      target: g.unit
        ? `${g.higher ? '≥' : '≤'} ${g.target} ${g.unit}`
        : `${g.higher ? '≥' : '≤'} ${g.target}×`,
      result: g.pass ? 'PASS' : 'MISS',
    })),
  );

  const results = {
    startedAt: startedAt.toISOString(),
    smoke,
    durationSeconds: (performance.now() - t0) / 1000,
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model,
      node: process.version,
      loadavgAtEnd: loadavg(),
    },
    params: { ...P, probeRatePerSecond: PROBE_RATE },
    throughput: Object.fromEntries(
      cases.map((c) => [
        c.key,
        {
          label: c.label,
          rps: by[c.key].rps,
          p50Ms: by[c.key].p50,
          p99Ms: by[c.key].p99,
          cpuUsPerRequest: by[c.key].cpu,
          runs: c.runs,
        },
      ]),
    ),
    login: {
      hashing: login.hash,
      limitPerSecond: login.limit,
      rps: loginRps,
      cpuMsPerLogin: loginCpu,
      p99AtRestMs: restP99,
      p99InStormMs: stormP99,
      runs: login.runs,
    },
    memory: {
      peakRss3aMb: rss3a,
      peakRssLoginMb: login.rss,
      memorySettings: {
        env: MEMORY_SETTINGS,
        peakRss3aMb: rss['3a-mem'] ?? 0,
        peakRssLoginMb: login.lean.rss,
        loginsPerSecond: login.lean.rps,
      },
    },
    startup: {
      restartMs: startMs,
      restartCpuMs: startCpuMs,
      restartsMs: started.restartsMs,
      firstStartMs: started.firstMs,
    },
    goals,
    problems,
  };
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `${smoke ? 'smoke-' : ''}${startedAt.toISOString().replace(/[:.]/g, '-')}.json`,
  );
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  log(`results written to ${file}`);
  if (problems.length > 0) exitCode = 1;
} catch (error) {
  console.error(`bench failed: ${error.stack ?? error}`);
  exitCode = 1;
} finally {
  await Promise.all(stoppers.map((stop) => stop()));
}
if (problems.length > 0)
  console.error(`bench: ${problems.length} check(s) failed:\n- ${problems.join('\n- ')}`);
process.exit(exitCode);
