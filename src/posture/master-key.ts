import { Keyring } from '../crypto/index.js';

/**
 * Master keys that appear in Bulwark's own docs, examples and tests. They are public, so data
 * encrypted under one of them is not protected. A test scans the repository and fails when a
 * 32-byte base64 value appears there that is neither listed here nor refused as weak.
 */
export const PUBLISHED_MASTER_KEYS: readonly string[] = Object.freeze([
  // test/posture/*: the "copied from the docs" key of the production refusal tests.
  'lr0u3F0d5Jj4m8pZ1mQ0sXk7e2YqJcN9TgVwHbRzA6E=',
]);

const published = new Set(
  PUBLISHED_MASTER_KEYS.map((k) => Buffer.from(k, 'base64').toString('hex')),
);

/** The length of the shortest period p <= 16 with key[i] === key[i + p] everywhere, if any. */
function period(key: Buffer): number | undefined {
  for (let p = 1; p <= 16; p++) {
    let repeats = true;
    for (let i = p; i < key.length && repeats; i++) repeats = key[i] === key[i - p];
    if (repeats) return p;
  }
  return undefined;
}

function longestRun(key: Buffer): number {
  let best = 1;
  let run = 1;
  for (let i = 1; i < key.length; i++) {
    run = key[i] === key[i - 1] ? run + 1 : 1;
    best = Math.max(best, run);
  }
  return best;
}

/**
 * Why a 32-byte master key is not "32 bytes of real entropy", or undefined when it looks random.
 * Every test has negligible odds of refusing a key from a CSPRNG (a run of 6 equal bytes in 32
 * random ones: ~2.5e-11). Messages describe the key's shape, never its bytes.
 */
export function masterKeyWeakness(key: Buffer): string | undefined {
  if (published.has(key.toString('hex'))) {
    return "is published in Bulwark's docs, examples or tests, so anyone can decrypt with it";
  }
  const p = period(key);
  if (p !== undefined) return `repeats a pattern of ${p} byte${p === 1 ? '' : 's'}`;
  const run = longestRun(key);
  if (run >= 6) return `has a run of ${run} identical bytes`;
  if (Keyring.looksWeak(key)) {
    return 'has the marks of a non-random value (very few distinct bytes, a counting sequence, or printable text such as a passphrase)';
  }
  return undefined;
}

/** The raw master keys of a keyring, by version (through its public file form). */
export function masterKeysOf(keyring: Keyring): Map<number, Buffer> {
  const keys = new Map<number, Buffer>();
  for (const [version, encoded] of Object.entries(keyring.toFileJson().keys)) {
    keys.set(Number(version), Buffer.from(encoded, 'base64'));
  }
  return keys;
}
