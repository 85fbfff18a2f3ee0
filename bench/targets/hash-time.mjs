// Time per argon2id verification at the default parameters, measured one at a time in a quiet
// process (one core busy). The machine's hashing limit is cores ÷ this time: no login service
// can do better than that, whatever it is written in. Prints one JSON line.
// Usage: node bench/targets/hash-time.mjs <samples>
import { availableParallelism } from 'node:os';
import { createConfig } from '../../dist/config/index.js';
import { PasswordHasher } from '../../dist/crypto/index.js';

const samples = Math.max(Number(process.argv[2]) || 5, 1);
const { passwords } = createConfig({ env: 'test' });
const hasher = new PasswordHasher({
  memoryKiB: passwords.argon2MemoryKiB,
  iterations: passwords.argon2Iterations,
  parallelism: passwords.argon2Parallelism,
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
process.stdout.write(
  JSON.stringify({
    cores: availableParallelism(),
    params: {
      memoryKiB: passwords.argon2MemoryKiB,
      iterations: passwords.argon2Iterations,
      parallelism: passwords.argon2Parallelism,
    },
    msPerVerify: times[Math.floor(times.length / 2)],
    samples: times,
  }) + '\n',
);
