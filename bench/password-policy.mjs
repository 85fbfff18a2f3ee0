#!/usr/bin/env node
// How long the password policy (zxcvbn-ts) takes on worst-case 128-character inputs. It runs on
// the event loop during registration and password change, so it must stay in the low milliseconds.
// Run on the built package: npm run build && node bench/password-policy.mjs
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
const started = performance.now();
checkPassword('warm up the dictionaries', options);
console.log(`dictionary load: ${(performance.now() - started).toFixed(1)} ms`);
console.log('| input | median ms | max ms |\n| --- | ---: | ---: |');
for (const [label, password] of Object.entries(inputs)) {
  const runs = Array.from({ length: 15 }, () => {
    const t0 = performance.now();
    checkPassword(password, options);
    return performance.now() - t0;
  }).sort((a, b) => a - b);
  console.log(`| ${label} | ${runs[7].toFixed(1)} | ${runs[14].toFixed(1)} |`);
}
