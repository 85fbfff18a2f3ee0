// Time per argon2id verification at the default parameters, measured one at a time in a quiet
// process (one core busy). The machine's hashing limit is cores ÷ this time: no login service
// can do better than that, whatever it is written in. Also measured: verifications per second
// with every core hashing at once (batches of `cores` in parallel), which is lower where the
// hashes compete for the shared cache and memory bandwidth; the suite shows it for information,
// the target stays against the limit above. Prints one JSON line.
// Usage: node bench/targets/hash-time.mjs <samples>
import { availableParallelism } from 'node:os';
import { createConfig } from '../../dist/config/index.js';
import { PasswordHasher } from '../../dist/crypto/index.js';

const samples = Math.max(Number(process.argv[2]) || 5, 1);
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
const batches = [];
for (let i = 0; i < samples; i++) {
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: cores }, () => hasher.verify(stored, 'correct horse battery staple')),
  );
  batches.push(performance.now() - t0);
  if (!results.every((r) => r.ok)) throw new Error('verification failed');
}
batches.sort((a, b) => a - b);
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
    allCoresPerSecond: cores / (batches[Math.floor(batches.length / 2)] / 1000),
    allCoresBatchMs: batches,
  }) + '\n',
);
