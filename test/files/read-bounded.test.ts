import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FileTooLargeError,
  readFailure,
  readFileBoundedSync,
} from '../../src/files/read-bounded.js';

describe('readFileBoundedSync', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-read-'));

  it('reads a file of exactly the bound, and an empty one', () => {
    const file = join(dir, 'exact');
    writeFileSync(file, Buffer.alloc(200_000, 0x61));
    expect(readFileBoundedSync(file, 200_000).equals(Buffer.alloc(200_000, 0x61))).toBe(true);
    writeFileSync(join(dir, 'empty'), '');
    expect(readFileBoundedSync(join(dir, 'empty'), 10).length).toBe(0);
  });

  it('refuses a file one byte over the bound', () => {
    const file = join(dir, 'over');
    writeFileSync(file, Buffer.alloc(200_001));
    let thrown: unknown;
    try {
      readFileBoundedSync(file, 200_000);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FileTooLargeError);
    expect(thrown).toMatchObject({ code: 'EFBIG', maxBytes: 200_000 });
    expect(readFailure(thrown)).toBe('larger than 200000 bytes');
    expect(readFailure(new FileTooLargeError(1024 * 1024))).toBe('larger than 1 MiB');
    expect(readFailure(new FileTooLargeError(64 * 1024))).toBe('larger than 64 KiB');
  });

  // readFileSync reads a device that reports no size until memory runs out.
  it.skipIf(!existsSync('/dev/zero'))('stops at the bound on a device that never ends', () => {
    expect(() => readFileBoundedSync('/dev/zero', 1024 * 1024)).toThrow(FileTooLargeError);
  });

  // `--config <(decrypt config.json)` hands over a pipe; a writer that never stops is cut off.
  it.skipIf(process.platform === 'win32')('reads a pipe to its end, up to the bound', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `printf '{"a":1}' > '${fifo}'`], { stdio: 'ignore' });
    // Blocks until the writer opens its end, as `cat` would.
    expect(readFileBoundedSync(fifo, 1024).toString()).toBe('{"a":1}');
    await new Promise((resolve) => writer.on('close', resolve));
    const endless = spawn('sh', ['-c', `cat /dev/zero > '${fifo}'`], { stdio: 'ignore' });
    expect(() => readFileBoundedSync(fifo, 100_000)).toThrow(FileTooLargeError);
    // Reading end closed: the writer ends on SIGPIPE.
    await new Promise((resolve) => endless.on('close', resolve));
  });

  it("passes Node's own errors through, named by their code", () => {
    for (const [path, code] of [
      [join(dir, 'missing'), 'ENOENT'],
      [dir, 'EISDIR'],
    ] as const) {
      let thrown: unknown;
      try {
        readFileBoundedSync(path, 1024);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code });
      expect(readFailure(thrown)).toBe(code);
    }
    expect(readFailure(new Error('no code'))).toBe('unreadable');
    expect(readFailure(new Error('no code'), 'error')).toBe('error');
  });
});
