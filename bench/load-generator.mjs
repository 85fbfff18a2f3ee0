// A small, bounded HTTP load generator, run as its own process so the server under test does not
// share its event loop. Loopback only; stops at the time limit or the request cap, whichever first.
// Usage: node bench/load-generator.mjs <url> <bearer-token> <connections> <durationMs> <maxRequests>
import http from 'node:http';

const [url, token, connectionsArg, durationArg, maxArg] = process.argv.slice(2);
const target = new URL(url);
if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
  throw new Error('load generator: loopback targets only');
}
const connections = Math.min(Number(connectionsArg) || 10, 64);
const durationMs = Math.min(Number(durationArg) || 5_000, 30_000);
const maxRequests = Math.min(Number(maxArg) || 200_000, 1_000_000);

const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const latencies = [];
const statuses = {};
let sent = 0;
let errors = 0;
const started = performance.now();
const deadline = started + durationMs;

function one() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'GET',
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - t0);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          resolve();
        });
      },
    );
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end();
  });
}

async function worker() {
  while (performance.now() < deadline && sent < maxRequests) {
    sent++;
    await one();
  }
}

await Promise.all(Array.from({ length: connections }, worker));
const elapsedMs = performance.now() - started;
agent.destroy();
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
process.stdout.write(
  JSON.stringify({
    requests: latencies.length,
    errors,
    statuses,
    rps: latencies.length / (elapsedMs / 1000),
    p50: pct(50),
    p99: pct(99),
  }) + '\n',
);
