import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runNode } from '../helpers/process.js';

/*
 * Paths that a slip in a setting, or a volume that did not mount, hands the CLI. Each case runs
 * the built CLI in a child process with a deadline: Node's own recursive mkdir spins forever
 * under /proc, and readFileSync reads /dev/zero until memory runs out, so a regression shows as a
 * timeout here rather than a frozen test worker.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-paths-'));
  dirs.push(dir);
  return dir;
}

/** A directory whose `data` is a symlink to nothing: a data volume that is not mounted. */
function unmountedData(): string {
  const dir = workDir();
  symlinkSync(join(dir, 'volume-not-mounted'), join(dir, 'data'));
  return dir;
}

const DEADLINE = { timeoutMs: 15_000 };
const masterKey = () => randomBytes(32).toString('base64');

describe.skipIf(process.platform === 'win32')('paths that cannot hold a directory', () => {
  it('dev-cert --out below a symlink to nothing: exit 1 with the fix, at once', async () => {
    const dir = unmountedData();
    const res = await runNode([BIN, 'dev-cert', '--out', 'data/tls'], { ...DEADLINE, cwd: dir });
    expect(res).toMatchObject({ code: 1, signal: null, stdout: '' });
    expect(res.stderr).toBe(
      'bulwark dev-cert: cannot write to data/tls (EEXIST). Fix: choose a writable --out DIR.\n',
    );
  });

  it.skipIf(!existsSync('/proc/self'))(
    'dev-cert --out under /proc: exit 1 with the fix, at once',
    async () => {
      const res = await runNode([BIN, 'dev-cert', '--out', '/proc/bulwark-test/tls'], DEADLINE);
      expect(res).toMatchObject({ code: 1, signal: null });
      expect(res.stderr).toContain('cannot write to /proc/bulwark-test/tls (ENOENT)');
    },
  );

  it('serve with its data directory on a volume not mounted: the development key file named', async () => {
    const dir = unmountedData();
    const res = await runNode([BIN, 'serve'], {
      ...DEADLINE,
      cwd: dir,
      env: { PORT: '0' },
    });
    expect(res).toMatchObject({ code: 78, signal: null });
    expect(res.stderr).toContain(
      'the development key file ./data/master-key.json cannot be created or read (EEXIST)',
    );
  });

  it('serve with a master key and the SQLite file below a symlink to nothing: the fix named', async () => {
    const dir = unmountedData();
    const res = await runNode([BIN, 'serve'], {
      ...DEADLINE,
      cwd: dir,
      env: { PORT: '0', BULWARK_MASTER_KEY: masterKey() },
    });
    expect(res).toMatchObject({ code: 1, signal: null, stdout: '' });
    expect(res.stderr).toMatch(/^bulwark serve: the SQLite database \.\/data\/bulwark\.db: EEXIST/);
    expect(res.stderr).toContain('a link to a volume that is not mounted');
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe.skipIf(!existsSync('/dev/zero'))('settings files that never end', () => {
  it('serve --config /dev/zero: refused as too large, exit 78', async () => {
    const res = await runNode([BIN, 'serve', '--config', '/dev/zero'], {
      ...DEADLINE,
      cwd: workDir(),
      env: { PORT: '0' },
    });
    expect(res).toMatchObject({ code: 78, signal: null });
    expect(res.stderr).toContain(
      '--config /dev/zero cannot be read (larger than 1 MiB). Fix: pass the path of a readable JSON file.',
    );
  });

  it('a TLS certificate file of /dev/zero: refused as too large, exit 78', async () => {
    const res = await runNode([BIN, 'serve'], {
      ...DEADLINE,
      cwd: workDir(),
      env: {
        PORT: '0',
        BULWARK_MASTER_KEY: masterKey(),
        BULWARK_TLS_CERT_FILE: '/dev/zero',
        BULWARK_TLS_KEY_FILE: '/dev/zero',
      },
    });
    expect(res).toMatchObject({ code: 78, signal: null });
    expect(res.stderr).toContain('/dev/zero cannot be read (larger than 1 MiB)');
  });
});
