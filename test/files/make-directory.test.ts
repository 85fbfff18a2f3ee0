import { mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from '../../src/files/make-directory.js';

// The paths that make Node's own recursive mkdir spin forever (under /proc) are tested through
// the CLI in child processes with a deadline (test/cli/hostile-paths.test.ts): a regression would
// freeze this worker, not fail a test.
/** The synchronous version, its throw turned into a rejection like the other's. */
const makeSync = (path: string, mode: number): Promise<void> =>
  new Promise((resolve) => {
    makeDirectorySync(path, mode);
    resolve();
  });
const both = [
  ['sync', makeSync],
  ['async', makeDirectory],
] as const;

describe.each(both)('makeDirectory (%s)', (_name, make) => {
  const base = () => mkdtempSync(join(tmpdir(), 'bulwark-mkdir-'));

  it('creates the directory and every missing parent with the mode given', async () => {
    const dir = base();
    const target = join(dir, 'a', 'b', 'c');
    await make(target, 0o700);
    for (const path of [join(dir, 'a'), join(dir, 'a', 'b'), target]) {
      const stat = statSync(path);
      expect(stat.isDirectory()).toBe(true);
      expect(stat.mode & 0o777).toBe(0o700);
    }
  });

  it('accepts a directory that exists, and one reached through a symlink', async () => {
    const dir = base();
    await make(dir, 0o700);
    symlinkSync(dir, join(dir, 'link'));
    await make(join(dir, 'link'), 0o700);
    await make(join(dir, 'link', 'inner'), 0o700);
    expect(statSync(join(dir, 'inner')).isDirectory()).toBe(true);
  });

  it('refuses a path that is a file, or runs through one', async () => {
    const dir = base();
    writeFileSync(join(dir, 'file'), '');
    await expect(make(join(dir, 'file'), 0o700)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(make(join(dir, 'file', 'below'), 0o700)).rejects.toMatchObject({
      code: 'ENOTDIR',
    });
  });
});
