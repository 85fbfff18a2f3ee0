// The load generator, run as its own process so it never shares the event loop (or the CPU
// accounting) of the server under test. autocannon underneath; loopback targets only; bounded in
// time. Prints one JSON line: { rps, p50, p99, max, requests, statuses, errors, timeouts }.
//
// Usage: node bench/lib/load.mjs '<json spec>'
//   spec: { url, method?, headers?, body?, connections?, durationMs?, overallRate?,
//           tokensFile?, tokenOffset? }
// With `tokensFile` (one access token per line), each request carries the next token of the
// pool as `Authorization: Bearer`, starting at `tokenOffset`: a fresh token per request for as
// long as the pool lasts, then round again (the pool is sized larger than any token cache).
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2] ?? '{}');
const target = new URL(spec.url);
if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
  throw new Error('load generator: loopback targets only');
}
const durationMs = Math.min(Math.max(Number(spec.durationMs) || 5_000, 200), 60_000);
const connections = Math.min(Math.max(Number(spec.connections) || 16, 1), 256);

const options = {
  url: spec.url,
  method: spec.method ?? 'GET',
  headers: spec.headers ?? {},
  connections,
  duration: durationMs / 1000,
  timeout: 10,
  ...(spec.body === undefined ? {} : { body: spec.body }),
  ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
};

if (spec.tokensFile) {
  const tokens = readFileSync(spec.tokensFile, 'utf8').split('\n').filter(Boolean);
  if (tokens.length === 0) throw new Error('load generator: empty token pool');
  let next = Number(spec.tokenOffset ?? 0) % tokens.length;
  options.requests = [
    {
      setupRequest(request) {
        const token = tokens[next];
        next = (next + 1) % tokens.length;
        request.headers = { ...request.headers, authorization: `Bearer ${token}` };
        return request;
      },
    },
  ];
}

const result = await autocannon(options);
const statuses = {};
for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) {
  statuses[code] = Number(count);
}
process.stdout.write(
  JSON.stringify({
    rps: result.requests.total / (durationMs / 1000),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
  }) + '\n',
);
