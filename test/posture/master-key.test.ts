import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { masterKeyWeakness, PUBLISHED_MASTER_KEYS } from '../../src/posture/index.js';
import { ROOT } from '../helpers/process.js';

describe('masterKeyWeakness', () => {
  it('accepts keys from a CSPRNG (10 000 of them)', () => {
    const refused: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const key = randomBytes(32);
      const weakness = masterKeyWeakness(key);
      if (weakness !== undefined) refused.push(weakness);
    }
    expect(refused).toEqual([]);
  });

  it.each([
    ['all zero', Buffer.alloc(32), /repeats a pattern of 1 byte/],
    ['one repeated byte', Buffer.alloc(32, 0xa7), /repeats a pattern of 1 byte/],
    ['two alternating bytes', Buffer.from('ab'.repeat(16), 'latin1'), /pattern of 2 bytes/],
    [
      'a 16-byte random half, twice',
      ((h: Buffer) => Buffer.concat([h, h]))(randomBytes(16)),
      /pattern of 16 bytes/,
    ],
    [
      'a run of six equal bytes in random data',
      Buffer.concat([randomBytes(13), Buffer.alloc(6, 0x33), randomBytes(13)]),
      /run of (6|7|8) identical bytes/,
    ],
    [
      'a counting sequence',
      Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
      /marks of a non-random/,
    ],
    ['printable text', Buffer.from('my-very-secret-master-key-123456'), /marks of a non-random/],
    [
      'eight distinct values',
      Buffer.from(
        Array.from({ length: 32 }, (_, i) => [1, 9, 3, 200, 5, 77, 7, 150][(i * 5) % 8]!),
      ),
      /marks of a non-random|pattern/,
    ],
  ])('refuses %s', (_label, key, reason) => {
    expect(key).toHaveLength(32);
    expect(masterKeyWeakness(key)).toMatch(reason);
  });

  it('refuses every published key', () => {
    for (const key of PUBLISHED_MASTER_KEYS) {
      expect(masterKeyWeakness(Buffer.from(key, 'base64'))).toMatch(/published/);
    }
  });
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|mjs|js|md|json)$/.test(name) ? [path] : [];
  });
}

describe('keys published in this repository', () => {
  it('every 32-byte base64 value in docs, examples, tests and sources is refused in production', () => {
    // A key printed in a README or a test is public: an operator who copies it must be stopped.
    const roots = ['README.md', 'docs', 'test', 'bench', 'src'].map((p) => join(ROOT, p));
    const unlisted: string[] = [];
    for (const file of roots.flatMap((r) => (statSync(r).isDirectory() ? files(r) : [r]))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(
        /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{43}=?(?![A-Za-z0-9+/_=-])/g,
      )) {
        // SCREAMING_CASE and snake_case identifiers are words, not keys.
        if (!/[a-z]/.test(match[0]) || !/[A-Z]/.test(match[0])) continue;
        const bytes = Buffer.from(match[0], 'base64');
        if (bytes.length !== 32) continue;
        if (masterKeyWeakness(bytes) === undefined) {
          unlisted.push(`${relative(ROOT, file)}: ${match[0]}`);
        }
      }
    }
    expect(unlisted, 'add these to PUBLISHED_MASTER_KEYS in src/posture/master-key.ts').toEqual([]);
  });
});
