import { isAbsolute, resolve } from 'node:path';

/** Where a command writes: process.stdout or process.stderr, or any stream with these members. */
export interface CliOutput {
  write(text: string | Uint8Array): unknown;
  isTTY?: boolean;
}

/**
 * Everything a CLI run takes from its process, passed in instead of read from globals, so that
 * `main` can run inside another program (the tests) with its own streams, environment and
 * directory. `bin/bulwark.js` runs it with {@link processIo}. Signals stay the process's:
 * `serve`, `tools` and `keys reencrypt` listen on the process itself.
 */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Standard input; `isTTY` true when it is a terminal (passwords are then asked, not read). */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** The environment the configuration is read from. */
  env: Record<string, string | undefined>;
  /**
   * The directory that paths named on the command line (--config, --out, --token-file …) are
   * relative to. Paths inside the configuration (database.sqlitePath, key and TLS files) are
   * opened by the services as they are: relative to the process's working directory.
   */
  cwd: string;
  /**
   * The file descriptor behind `stderr`, when there is one: the logger then writes to it
   * synchronously, so a warning written just before the process exits is never lost.
   */
  stderrFd?: number;
}

/**
 * The real process's streams, environment and working directory. The streams are looked up when
 * first used, as before: Node opens process.stdin on first access, which a command that never
 * reads it (serve) must not do.
 */
export function processIo(): CliIo {
  return {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    cwd: process.cwd(),
    stderrFd: 2,
  };
}

/**
 * `path` as opened from `io.cwd`. Unchanged when absolute, or when `io.cwd` is the process's own
 * directory: it then opens the same file, and Node's messages that quote it (ENOENT …, "already
 * exists") keep the path as the operator typed it.
 */
export function pathIn(io: CliIo, path: string): string {
  return isAbsolute(path) || io.cwd === process.cwd() ? path : resolve(io.cwd, path);
}
