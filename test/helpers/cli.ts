import { Readable } from 'node:stream';
import { main } from '../../src/cli/index.js';
import type { CliIo, CliOutput } from '../../src/cli/io.js';
import type { TestDb } from './db.js';
import { ROOT } from './process.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A stream that keeps what is written to it, as the spawn helper keeps a child's pipes. */
class Capture implements CliOutput {
  text = '';
  // A pipe, not a terminal: what a child with piped stdio sees.
  readonly isTTY = undefined;
  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }
}

/**
 * Runs the CLI's `main` in this process, as `runNode([BIN, ...args])` runs it in a child: with
 * `env` as its whole environment (nothing of this process's), `input` on a standard input that
 * is not a terminal, `cwd` for the paths named on the command line, and stdout and stderr
 * captured. Nothing of the process is touched (env, cwd and the real streams stay as they are),
 * so it is safe in a worker shared with other test files.
 *
 * What only a process shows stays with the spawn helper: the launcher, an uncaught error's exit,
 * signals, terminals. A command that keeps running (serve, tools) cannot be run here.
 */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; input?: string; cwd?: string } = {},
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = {
    stdout,
    stderr,
    stdin: Readable.from(options.input ? [Buffer.from(options.input)] : []),
    env: { ...options.env },
    cwd: options.cwd ?? ROOT,
  };
  const code = await main(args, io);
  if (code < 0) throw new Error(`bulwark ${args.join(' ')} keeps running: run it as a process`);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * The environment a CLI run needs for a test's own database (its SQLite file, or its PostgreSQL
 * schema when DATABASE_URL is set) with cheap argon2 parameters, plus `extra`.
 */
export function cliDatabaseEnv(
  testDb: TestDb,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    BULWARK_DATABASE_SQLITE_PATH: testDb.sqlitePath,
    ...(testDb.url === undefined ? {} : { DATABASE_URL: testDb.url }),
    BULWARK_PASSWORDS_ARGON2_MEMORY_KIB: '1024',
    BULWARK_PASSWORDS_ARGON2_ITERATIONS: '1',
    ...extra,
  };
}
