// Time per argon2id verification at the default parameters, measured one at a time in a quiet
// process (one core busy). The machine's hashing limit is cores ÷ this time: no login service
// can do better than that, whatever it is written in. Also measured: verifications per second
// sustained with every core hashing at once (`cores` verifications always in flight for a fixed
// time, as a login storm keeps them), which is lower where the hashes compete for the shared
// cache and memory bandwidth or the cores are not independent; the suite shows it for
// information, the target stays against the limit above. Prints one JSON line.
// Usage: node bench/targets/hash-time.mjs <samples> [<sustain ms>]
import { availableParallelism } from 'node:os';
import { createConfig } from '../../dist/config/index.js';
import { PasswordHasher } from '../../dist/crypto/index.js';

const samples = Math.max(Number(process.argv[2]) || 5, 1);
const sustainMs = Math.max(Number(process.argv[3]) || 2_000, 100);
const { passwords } = createConfig({ env: 'test' });
const cores = availableParallelism();
const hasher = new PasswordHasher({
  memoryKiB: passwords.argon2MemoryKiB,
  iterations: passwords.argon2Iterations,
  parallelism: passwords.argon2Parallelism,
  maxConcurrent: cores,
});
const stored = await hasher.hash('correct horse battery staple');
await hasher.verify(stored, 'correct horse battery staple'); // warm
const times = [];
for (let i = 0; i < samples; i++) {
  const t0 = performance.now();
  const { ok } = await hasher.verify(stored, 'correct horse battery staple');
  times.push(performance.now() - t0);
  if (!ok) throw new Error('verification failed');
}
times.sort((a, b) => a - b);
// Sustained: each of `cores` loops starts its next verification as soon as the last one ends,
// so a core never waits for the slower hash of a batch; counted until the deadline.
let completed = 0;
const t0 = performance.now();
const deadline = t0 + sustainMs;
let lastEnd = t0;
await Promise.all(
  Array.from({ length: cores }, async () => {
    while (performance.now() < deadline) {
      const { ok } = await hasher.verify(stored, 'correct horse battery staple');
      if (!ok) throw new Error('verification failed');
      completed += 1;
      lastEnd = performance.now();
    }
  }),
);
process.stdout.write(
  JSON.stringify({
    cores,
    params: {
      memoryKiB: passwords.argon2MemoryKiB,
      iterations: passwords.argon2Iterations,
      parallelism: passwords.argon2Parallelism,
    },
    msPerVerify: times[Math.floor(times.length / 2)],
    samples: times,
    allCoresPerSecond: completed / ((lastEnd - t0) / 1000),
    allCoresVerifications: completed,
    allCoresMs: lastEnd - t0,
  }) + '\n',
);
