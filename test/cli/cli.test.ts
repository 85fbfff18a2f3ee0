import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { BIN, fileAppears, holdCliLoad, ROOT, runNode, Spawned } from '../helpers/process.js';
import { silentRedis } from '../helpers/redis.js';

// These tests run the built CLI (npm test builds first), as a process wherever the process is
// what they check: the launcher, signals, listening, exit on a crash. Answers that only depend on
// the arguments (usage, version, where --config goes) come from the CLI's `main` in this process
// (runCli), with the same streams, environment and exit code. What `serve` refuses stays a
// process: serve sets signal handlers while it reads its config, and a regression that took a bad
// argument or config would start a server, neither of which belongs in a test worker. The
// launcher's exit codes 0 and 2 are still checked end to end.
const spawned: Spawned[] = [];
afterEach(() => {
  for (const s of spawned.splice(0)) s.kill();
});

describe('bulwark CLI', () => {
  it('prints help and exits 0', async () => {
    const res = await runNode([BIN, '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Usage: bulwark \[command\]/);
    expect(res.stdout).toContain('serve');
    // Every subcommand on its own line.
    for (const sub of [
      'keys rotate',
      'keys rotate-master',
      'keys reencrypt',
      'audit-log verify',
      'audit-log prune',
    ])
      expect(res.stdout).toMatch(new RegExp(`^  ${sub} `, 'm'));
  });

  it('prints the usage of the command named after `help`', async () => {
    const res = await runCli(['help', 'keys', 'reencrypt']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: bulwark keys reencrypt/);
  });

  it('prints the version', async () => {
    const res = await runCli(['--version']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('refuses an unknown command with exit code 2', async () => {
    const res = await runNode([BIN, 'frobnicate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown command "frobnicate"');
  });

  it('refuses an unknown option with the synopsis and exit code 2', async () => {
    const res = await runNode([BIN, 'serve', '--bogus']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'bulwark serve: unknown option --bogus\n\nUsage: bulwark serve [--config FILE]\n' +
        "Run 'bulwark serve --help' for the full usage.\n",
    );
  });

  it('takes --config before the command or the subcommand, and refuses extra arguments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ server: { port: 1 } }));
    // Runs doctor (connects to nothing), not the server on port 1.
    const doctor = await runCli(['--config', file, 'doctor', '--json']);
    expect(doctor.code, doctor.stderr).toBe(0);
    expect(JSON.parse(doctor.stdout)).toMatchObject({ configFile: file });
    // `keys --config FILE <sub>` reaches the subcommand: its own help, its own checks.
    const help = await runCli(['keys', '--config', file, 'reencrypt', '--help']);
    expect(help.stdout).toMatch(/^Usage: bulwark keys reencrypt/);
    const batch = await runCli(['keys', `--config=${file}`, 'reencrypt', '--batch-size', '0']);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toMatch(/^bulwark keys: --batch-size must be an integer/);
    const general = await runCli(['--config', file, '--help']);
    expect(general.stdout).toMatch(/^Usage: bulwark \[command\]/);
    // serve does not start when given something it does not take.
    // A process: were the argument taken, a server would start (on port 1).
    const extra = await runNode([BIN, '--config', file, 'serve', 'migrate']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(
      /^bulwark serve: serve takes no arguments \(got "migrate"\)\n\nUsage: bulwark serve/,
    );
  });

  it('stops on bad config with the setting, the problem and the fix, and no stack trace', async () => {
    const res = await runNode([BIN, 'serve'], {
      env: { PORT: 'http', BULWARK_CORS_ORIGINS: '*', BULWARK_CORS_CREDENTIALS: 'true' },
    });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('PORT (server.port) must be integer');
    expect(res.stderr).toContain('Fix:');
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stdout).toBe('');
  });

  it('answers help and bad arguments without loading the config, database, logger or services', async () => {
    // What a command needs is imported once its arguments are checked: a typo is answered at
    // once, and `--help` starts in a fraction of the time the service's modules take to load.
    const runs: [string[], number][] = [
      [['--help'], 0],
      [['help', 'keys', 'reencrypt'], 0],
      ...[
        'serve',
        'migrate',
        'keys',
        'user',
        'audit-log',
        'audit',
        'tools',
        'jwt',
        'dev-cert',
        'doctor',
      ].map((command): [string[], number] => [[command, '--help'], 0]),
      [['keys', 'rotate-master', '--help'], 0],
      [['frobnicate'], 2],
      [['serve', 'extra'], 2],
      [['migrate', 'extra'], 2],
      [['doctor', 'extra'], 2],
      [['keys'], 2],
      [['keys', 'rotate', '--bogus'], 2],
      [['keys', 'reencrypt', '--batch-size', 'x'], 2],
      [['keys', 'rotate-master', '--format', 'yaml', '--out', 'x'], 2],
      [['keys', 'rotate-master', '--format', 'json'], 2],
      [['user', 'create'], 2],
      [['user', 'create', '--password', 'x', '--email', 'a@example.com'], 2],
      [['user', 'create', '--email', 'a@example.com'], 2],
      [['user', 'set-password', '--help'], 0],
      [['user', 'set-password', '--email', 'a@example.com'], 2],
      [['user', 'set-password', '--password=x', '--email', 'a@example.com'], 2],
      [['user', 'set-password', '--email', 'a@example.com', '--password-stdin', 'x'], 2],
      [['audit-log'], 2],
      [['audit-log', 'prune', '--json'], 2],
      [['audit-log', 'verify', '--older-than-days', '3'], 2],
      [['dev-cert', '--days', '0'], 2],
      [['tools', '--port', 'x'], 2],
    ];
    const res = await runNode(['test/fixtures/cli-modules.mjs'], {
      env: { CLI_RUNS: JSON.stringify(runs.map(([args]) => args)) },
    });
    expect(res.stderr).toBe('');
    const { codes, loaded } = JSON.parse(res.stdout) as { codes: number[]; loaded: string[] };
    expect(codes).toEqual(runs.map(([, code]) => code));
    expect(loaded).toEqual([]);
  });

  it('refuses a config file that does not exist', async () => {
    // `serve` (the default command): a process, as for a bad config above.
    const res = await runNode([BIN, '--config', '/nonexistent.json']);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('--config /nonexistent.json cannot be read');
  });
});

/** test/fixtures/slow-server.mjs (a team's server on runServer) on its own database. */
async function startSlowServer(): Promise<{ server: Spawned; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
  const server = new Spawned(['test/fixtures/slow-server.mjs'], {
    SLOW_MS: '800',
    BULWARK_DATABASE_SQLITE_PATH: join(dir, 'bulwark.db'),
    BULWARK_KEYS_DEV_KEY_FILE: join(dir, 'master-key.json'),
  });
  spawned.push(server);
  const [, url] = await server.waitFor(/LISTENING (\S+)/);
  return { server, url: url! };
}

describe('bulwark serve', () => {
  it('serves, then shuts down gracefully on SIGTERM: in-flight requests finish, exit 0', async () => {
    const { server, url } = await startSlowServer();
    expect((await fetch(`${url}/health/live`)).status).toBe(200);

    let finished = false;
    const inFlight = fetch(`${url}/slow`).finally(() => (finished = true));
    // Signalled once the server has the request, not after a guessed delay: on a loaded machine
    // the request or the signal can take longer than any such delay to arrive.
    await server.waitFor(/slow request started/);
    server.child.kill('SIGTERM');
    await server.waitFor(/shutting down: finishing in-flight requests/);

    // New connections are refused while the old request finishes. The listener closes just
    // after that line: a connection that still gets in is answered, and the next one tried.
    await vi.waitFor(
      () =>
        expect(fetch(`${url}/health/live`, { headers: { connection: 'close' } })).rejects.toThrow(),
      { timeout: 2_000, interval: 20 },
    );
    expect(finished).toBe(false);
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ finished: true });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout).toContain('shutdown complete');
  });

  // npm runs a script as `sh -c "<script>"` and passes a SIGTERM (docker stop, a process manager)
  // to that shell. dash, Debian's and Ubuntu's sh, keeps the script's command as its child and
  // dies of the signal: the server went on listening, orphaned, with the port still taken.
  it.skipIf(process.platform === 'win32')(
    'npm start: a SIGTERM to the shell npm runs the script in stops the server gracefully',
    async () => {
      const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: { start: string };
      };
      const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
      // Its own process group, so that a server left behind is still found and killed.
      const shell = spawn('/bin/sh', ['-c', scripts.start], {
        cwd: ROOT,
        detached: true,
        env: {
          PATH: process.env.PATH,
          PORT: '0',
          BULWARK_DATABASE_SQLITE_PATH: join(dir, 'bulwark.db'),
          BULWARK_KEYS_DEV_KEY_FILE: join(dir, 'master-key.json'),
        },
      });
      let stdout = '';
      shell.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve) => shell.on('exit', (code, signal) => resolve({ code, signal })),
      );
      try {
        await vi.waitFor(() => expect(stdout).toContain('bulwark listening'), {
          timeout: 15_000,
          interval: 25,
        });
        shell.kill('SIGTERM');
        expect(await exited, stdout).toEqual({ code: 0, signal: null });
        expect(stdout).toContain('shutdown complete');
      } finally {
        try {
          process.kill(-shell.pid!, 'SIGKILL');
        } catch {
          // The group is gone: nothing was left behind.
        }
      }
    },
  );

  it('logs an unhandled rejection and keeps serving; an uncaught exception stops it gracefully with exit 1', async () => {
    const { server, url } = await startSlowServer();

    expect(await (await fetch(`${url}/float`)).json()).toEqual({ answered: true });
    await server.waitFor(/unhandled promise rejection/);
    const rejection = server.stdout
      .split('\n')
      .find((line) => line.includes('unhandled promise rejection'));
    expect(JSON.parse(rejection!)).toMatchObject({
      level: 'error',
      err: { message: 'background work failed' },
    });
    expect((await fetch(`${url}/health/live`)).status).toBe(200);

    const inFlight = fetch(`${url}/slow`);
    await server.waitFor(/slow request started/);
    expect((await fetch(`${url}/throw-later`)).status).toBe(200);
    const res = await inFlight;
    expect(await res.json()).toEqual({ finished: true });
    expect(await server.exited).toEqual({ code: 1, signal: null });
    const fatal = server.stdout.split('\n').find((line) => line.includes('uncaught exception'));
    expect(JSON.parse(fatal!)).toMatchObject({
      level: 'fatal',
      err: { message: 'escaped every handler' },
    });
    expect(server.stdout).toContain('shutdown complete');
    expect(server.stderr).not.toMatch(/\n\s+at /);
  });

  it('fails to start with one line, the fix and exit 1 when its port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      const res = await runNode([BIN, 'serve'], {
        cwd: dir,
        env: { PORT: String(port), BULWARK_LOG_LEVEL: 'warn' },
      });
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr.trim().split('\n').at(-1)).toBe(
        `bulwark serve: port ${port} on 127.0.0.1 is already in use. Fix: stop the process that holds it, or set PORT (server.port) to a free port.`,
      );
      expect(res.stderr).not.toMatch(/\n\s+at /);
    } finally {
      holder.close();
    }
  });

  it('refuses a development key file others can read as a setting (exit 78), not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    writeFileSync(join(dir, 'data', 'master-key.json'), '{}', { mode: 0o640 });
    chmodSync(join(dir, 'data', 'master-key.json'), 0o640);
    const res = await runNode([BIN, 'serve'], { cwd: dir, env: { PORT: '0' } });
    expect(res.code, res.stderr).toBe(78);
    expect(res.stderr).toContain(
      'keys.devKeyFile (BULWARK_KEYS_DEV_KEY_FILE): Key file ./data/master-key.json is accessible by group or others (mode 0640); run: chmod 600 ./data/master-key.json',
    );
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'data', 'bulwark.db'))).toBe(false);
  });

  // Deterministic points inside start-up, no sleeps: a "Redis" that accepts and never answers
  // holds start-up in its connection wait (redis.connectTimeoutMs, here far longer than the test
  // allows); a config file that is a FIFO holds it in loading the config, before anything opens.
  it('stops on SIGTERM during start-up: one line, the port never opens, exit 0 within seconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const silent = await silentRedis();
    try {
      const server = new Spawned(
        [BIN, 'serve'],
        {
          PORT: '0',
          BULWARK_LOG_LEVEL: 'info',
          REDIS_URL: silent.url,
          BULWARK_REDIS_CONNECT_TIMEOUT_MS: '60000',
        },
        dir,
      );
      spawned.push(server);
      await silent.reached;
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const exit = await server.exited;
      expect(exit, server.stdout + server.stderr).toEqual({ code: 0, signal: null });
      // The Redis wait is cut short, not waited out; 5 s leaves room for a loaded machine.
      expect(Date.now() - signalled).toBeLessThan(5_000);
      const lines = server.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { msg: string; signal?: string });
      const messages = lines.map((line) => line.msg);
      expect(lines.find((line) => line.msg === 'shutting down during start-up')).toMatchObject({
        signal: 'SIGTERM',
      });
      // The whole output on failure: the order of the last lines is the point.
      expect(messages.at(-1), server.stdout).toBe('shutdown complete');
      expect(messages).not.toContain('bulwark listening');
      expect(server.stderr).toBe('');
      // That what start-up opened is closed is shown in-process: test/server/start-abort.test.ts.
    } finally {
      silent.release();
    }
  });

  it.skipIf(process.platform === 'win32')(
    'stops on SIGINT while loading its config, before anything is opened: one line, exit 0',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
      const fifo = join(dir, 'config.json');
      execFileSync('mkfifo', [fifo]);
      const server = new Spawned(
        [BIN, 'serve', '--config', fifo],
        { PORT: '0', BULWARK_LOG_LEVEL: 'info' },
        dir,
      );
      spawned.push(server);
      // Opening a FIFO to write waits until the server opens it to read its config.
      const writer = await open(fifo, 'w');
      server.child.kill('SIGINT');
      await writer.writeFile('{}');
      await writer.close();
      const exit = await server.exited;
      expect(exit, server.stdout + server.stderr).toEqual({ code: 0, signal: null });
      const lines = server.stdout.split('\n').filter(Boolean);
      expect(lines.map((line) => JSON.parse(line) as object)).toEqual([
        expect.objectContaining({ msg: 'shutting down during start-up', signal: 'SIGINT' }),
      ]);
      expect(server.stderr).toBe('');
      expect(existsSync(join(dir, 'data'))).toBe(false);
    },
  );

  // The CLI's own modules take ~0.1 s to load, before any command has handlers. A module hook
  // holds that load (deterministically, no sleeps) while the signal arrives.
  it.skipIf(process.platform === 'win32')(
    'stops on SIGTERM while the CLI itself loads: one line, exit 0, not killed by the signal',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
      const { importUrl, held, release } = holdCliLoad(dir);
      const server = new Spawned(
        ['--import', importUrl, BIN, 'serve'],
        { PORT: '0', BULWARK_LOG_LEVEL: 'info' },
        dir,
      );
      spawned.push(server);
      await fileAppears(held, server);
      server.child.kill('SIGTERM');
      // Delivered before the load goes on: the launcher's handler has it by then.
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(release, '');
      const exit = await server.exited;
      expect(exit, server.stdout + server.stderr).toEqual({ code: 0, signal: null });
      const lines = server.stdout.split('\n').filter(Boolean);
      expect(lines.map((line) => JSON.parse(line) as object)).toEqual([
        expect.objectContaining({ msg: 'shutting down during start-up', signal: 'SIGTERM' }),
      ]);
      expect(server.stderr).toBe('');
      expect(existsSync(join(dir, 'data'))).toBe(false);
    },
  );

  it('runs on embedded defaults with `bulwark` alone', async () => {
    // In an empty directory, as on a fresh clone: SQLite file and development key are created there.
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const server = new Spawned([BIN], { PORT: '0', BULWARK_LOG_LEVEL: 'info' }, dir);
    spawned.push(server);
    const [, url] = await server.waitFor(/"url":"(http:[^"]+)"/);
    const res = await fetch(`${url}/health/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ checks: { database: { status: 'ok' } } });
    expect(server.stdout).toContain('DEVELOPMENT master key');
    expect(existsSync(join(dir, 'data', 'bulwark.db'))).toBe(true);
    expect(statSync(join(dir, 'data', 'master-key.json')).mode & 0o777).toBe(0o600);
    // Without TLS, SIGHUP (systemctl reload, a closed terminal) re-reads the signing keys, and
    // the server keeps serving.
    server.child.kill('SIGHUP');
    await server.waitFor(/signing keys re-read/);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });

  // Without Redis nothing announces a rotation to a running instance: it acts on it at its
  // periodic re-read (within a minute), which after a leaked key is a minute too long.
  it('refuses the tokens of keys revoked by `keys rotate --revoke-old` at once on SIGHUP, without Redis', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const server = new Spawned([BIN], { PORT: '0', BULWARK_LOG_LEVEL: 'info' }, dir);
    spawned.push(server);
    const [, url] = await server.waitFor(/"url":"(http:[^"]+)"/);
    const credentials = {
      email: 'hup@example.com',
      password: `hup-${randomBytes(12).toString('hex')}-Qz`,
    };
    const post = (path: string, body: object) =>
      fetch(`${url}/api/v1${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('/auth/register', { ...credentials, name: 'Hup' })).status).toBe(201);
    const login = async (): Promise<string> => {
      const res = await post('/auth/login', credentials);
      expect(res.status).toBe(200);
      return ((await res.json()) as { accessToken: string }).accessToken;
    };
    const me = (token: string) =>
      fetch(`${url}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
    const before = await login();
    expect((await me(before)).status).toBe(200);

    const rotate = await runNode([BIN, 'keys', 'rotate', '--revoke-old'], { cwd: dir });
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toContain('send them SIGHUP to refuse their tokens at once');
    // Not yet re-read: the running instance still accepts the revoked key's token.
    expect((await me(before)).status).toBe(200);

    server.child.kill('SIGHUP');
    await server.waitFor(/signing keys re-read/);
    const refused = await me(before);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: 'invalid_token' });
    // New tokens are signed with the new key, which the instance now uses.
    const after = await login();
    const kid = (token: string) =>
      (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string })
        .kid;
    expect(kid(after)).not.toBe(kid(before));
    expect(rotate.stdout).toContain(`new kid: ${kid(after)}`);
    expect((await me(after)).status).toBe(200);
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });
});
