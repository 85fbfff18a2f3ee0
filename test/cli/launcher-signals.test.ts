import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, fileAppears, holdCliLoad, Spawned } from '../helpers/process.js';

/*
 * bin/bulwark.js holds SIGTERM, SIGINT and SIGHUP while the CLI's modules load, for `serve` to
 * log a stop asked for that early (test/cli/cli.test.ts). Any other command must get the
 * signal's default back before it runs: a handler left in place would make a command that is busy
 * synchronously deaf to SIGTERM, and a held signal would let it do its work before ending.
 */
const dirs: string[] = [];
const spawned: Spawned[] = [];
afterEach(() => {
  for (const child of spawned.splice(0)) child.kill();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-launcher-'));
  dirs.push(dir);
  return dir;
}

/** A module for `--import` that runs `body` (ESM) in the child before the launcher. */
function preload(dir: string, body: string[]): string {
  writeFileSync(join(dir, 'preload.mjs'), body.join('\n'));
  return pathToFileURL(join(dir, 'preload.mjs')).href;
}

/** The child's exit, or 'still running' after `ms`. */
function exitWithin(child: Spawned, ms: number): Promise<unknown> {
  return Promise.race([
    child.exited,
    new Promise((r) => setTimeout(() => r('still running'), ms).unref()),
  ]);
}

describe.skipIf(process.platform === 'win32')('the launcher and signals', () => {
  it('a command busy synchronously still ends on SIGTERM', async () => {
    const dir = workDir();
    const busy = join(dir, 'busy');
    // dev-cert makes its directory synchronously; here that call never returns.
    const hook = preload(dir, [
      "import fs from 'node:fs';",
      "import { syncBuiltinESMExports } from 'node:module';",
      'fs.mkdirSync = () => {',
      `  fs.writeFileSync(${JSON.stringify(busy)}, '');`,
      '  for (;;);',
      '};',
      'syncBuiltinESMExports();',
    ]);
    const child = new Spawned(
      ['--import', hook, BIN, 'dev-cert', '--out', join(dir, 'tls')],
      {},
      dir,
    );
    spawned.push(child);
    await fileAppears(busy, child);
    child.child.kill('SIGTERM');
    expect(await exitWithin(child, 5_000)).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('a command other than serve stopped while the CLI loads ends by the signal before it runs', async () => {
    const dir = workDir();
    const { importUrl, held, release } = holdCliLoad(dir);
    const out = join(dir, 'tls');
    const child = new Spawned(['--import', importUrl, BIN, 'dev-cert', '--out', out], {}, dir);
    spawned.push(child);
    await fileAppears(held, child);
    child.child.kill('SIGTERM');
    // Delivered while the load waits: the launcher's handler has it by then.
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(release, '');
    expect(await exitWithin(child, 10_000)).toEqual({ code: null, signal: 'SIGTERM' });
    // Stopped before it started: no certificate, no key, not even the directory.
    expect(existsSync(out)).toBe(false);
    expect(child.stdout).toBe('');
  });
});
