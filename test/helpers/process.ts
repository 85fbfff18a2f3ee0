import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/bulwark.js', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a node script to completion (bounded by `timeoutMs`) and collects its output. */
export function runNode(
  args: string[],
  options: {
    env?: Record<string, string | undefined>;
    input?: string;
    timeoutMs?: number;
    cwd?: string;
  } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: node ${args.join(' ')}\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running child process whose output is watched for a line. */
export class Spawned {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT) {
    this.child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH, ...env },
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  /** Resolves with the first match of `pattern` in stdout, or rejects after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.stdout.match(pattern);
      if (match) return match;
      if (this.child.exitCode !== null)
        throw new Error(`exited early:\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`no ${String(pattern)} in time:\n${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Makes a child started with `--import <importUrl>` (files written to `dir`) stop while it loads
 * the CLI's own modules (dist/cli/index.js): it creates `held`, then waits until `release`
 * exists. A signal sent once `held` exists reaches the launcher during that load, every time.
 */
export function holdCliLoad(dir: string): { importUrl: string; held: string; release: string } {
  const held = join(dir, 'held');
  const release = join(dir, 'release');
  writeFileSync(
    join(dir, 'hold.mjs'),
    [
      "import { existsSync, writeFileSync } from 'node:fs';",
      'export async function load(url, context, next) {',
      "  if (url.endsWith('/dist/cli/index.js')) {",
      `    writeFileSync(${JSON.stringify(held)}, '');`,
      `    while (!existsSync(${JSON.stringify(release)})) await new Promise((r) => setTimeout(r, 10));`,
      '  }',
      '  return next(url, context);',
      '}',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    "import { register } from 'node:module';\nregister('./hold.mjs', import.meta.url);\n",
  );
  return { importUrl: pathToFileURL(join(dir, 'register.mjs')).href, held, release };
}

/** Resolves once `path` exists; fails if `child` exits first or after 10 s. */
export async function fileAppears(path: string, child: Spawned): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (child.child.exitCode !== null) {
      throw new Error(`exited before ${path} appeared:\n${child.stdout}\n${child.stderr}`);
    }
    if (Date.now() > deadline) throw new Error(`${path} did not appear in time`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
