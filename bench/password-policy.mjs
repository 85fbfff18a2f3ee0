#!/usr/bin/env node
// How long the password policy (zxcvbn-ts) takes on worst-case 128-character inputs, and how
// long the event loop is held meanwhile: the estimate runs in a worker thread during registration
// and password change, so the loop's worst delay must stay near zero while checks run.
// Run on the built package: npm run build && node bench/password-policy.mjs
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { checkPassword } from '../dist/crypto/index.js';

const inputs = {
  'random symbols': 'Yq#8zLm!kP2$'.repeat(11).slice(0, 128),
  'leet digits': '4@!1|0$3'.repeat(16),
  'repeated pair': '12'.repeat(64),
  passphrase: 'correct horse battery staple and the tall correct horse battery staple again'.padEnd(
    128,
    '!',
  ),
};
const options = { minLength: 12, maxLength: 128, userInputs: ['user@example.com', 'Test User'] };
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const started = performance.now();
await checkPassword('warm up the dictionaries', options);
console.log(`worker start + dictionary load: ${(performance.now() - started).toFixed(1)} ms`);
console.log('| input | median ms | max ms |\n| --- | ---: | ---: |');
for (const [label, password] of Object.entries(inputs)) {
  const runs = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    await checkPassword(password, options);
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  console.log(`| ${label} | ${runs[7].toFixed(1)} | ${runs[14].toFixed(1)} |`);
}
loop.disable();
console.log(`event loop delay meanwhile: max ${(loop.max / 1e6).toFixed(1)} ms`);
