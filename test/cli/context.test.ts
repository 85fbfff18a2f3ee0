import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/args.js';
import { toCliError } from '../../src/cli/context.js';
import { createConfig, type ConfigInput } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { loadKeyring } from '../../src/services.js';
import { tempDir } from '../helpers/tls.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function workDir(): string {
  const dir = tempDir('bulwark-devkey-');
  dirs.push(dir);
  return dir;
}

// How the CLI turns a start-up failure into one line (spawning serve for each costs seconds).
function errno(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

function mapped(error: unknown, input: ConfigInput = {}): { message: string; exitCode: number } {
  const result = toCliError(error, createConfig(input));
  expect(result).toBeInstanceOf(CliError);
  const { message, exitCode } = result as CliError;
  expect(message).not.toContain('\n');
  return { message, exitCode };
}

describe('toCliError: listeners that cannot start', () => {
  it('a port in use names the setting and the fix, exit 1', () => {
    const error = errno('listen EADDRINUSE: address already in use 127.0.0.1:3000', {
      code: 'EADDRINUSE',
      syscall: 'listen',
      address: '127.0.0.1',
      port: 3000,
    });
    expect(mapped(error, { server: { port: 3000 } })).toEqual({
      message:
        'port 3000 on 127.0.0.1 is already in use. Fix: stop the process that holds it, or set PORT (server.port) to a free port.',
      exitCode: 1,
    });
    const metrics = errno('listen EADDRINUSE', {
      code: 'EADDRINUSE',
      syscall: 'listen',
      address: '127.0.0.1',
      port: 9464,
    });
    expect(mapped(metrics, { metrics: { port: 9464, token: 'x'.repeat(40) } }).message).toContain(
      'set BULWARK_METRICS_PORT (metrics.port) to a free port',
    );
  });

  it('a privileged port says why', () => {
    const error = errno('listen EACCES: permission denied 0.0.0.0:80', {
      code: 'EACCES',
      syscall: 'listen',
      address: '0.0.0.0',
      port: 80,
    });
    const { message, exitCode } = mapped(error, { server: { port: 80 } });
    expect(message).toMatch(/^not allowed to listen on port 80 on 0\.0\.0\.0: .*Fix: set PORT/);
    expect(exitCode).toBe(1);
  });

  it('a host that is not this machine is a settings problem, exit 78', () => {
    const notMine = errno('listen EADDRNOTAVAIL', {
      code: 'EADDRNOTAVAIL',
      syscall: 'listen',
      address: '10.99.99.99',
      port: 3000,
    });
    expect(mapped(notMine, { server: { host: '10.99.99.99' } })).toMatchObject({
      message: expect.stringMatching(/^cannot listen on 10\.99\.99\.99 \(HOST \(server\.host\)\)/),
      exitCode: 78,
    });
    const unresolvable = errno('getaddrinfo ENOTFOUND 999.1.1.1', {
      code: 'ENOTFOUND',
      syscall: 'getaddrinfo',
      hostname: '999.1.1.1',
    });
    expect(mapped(unresolvable, { server: { host: '999.1.1.1' } })).toMatchObject({
      message: expect.stringContaining('no such address or host name (ENOTFOUND). Fix:'),
      exitCode: 78,
    });
  });

  it('an unresolvable database host stays a database problem', () => {
    const error = errno('getaddrinfo ENOTFOUND db.internal', {
      code: 'ENOTFOUND',
      syscall: 'getaddrinfo',
      hostname: 'db.internal',
    });
    const { message, exitCode } = mapped(error, {
      database: { url: 'postgres://app:s3cret-pw@db.internal/app' },
    });
    expect(message).toMatch(/^cannot connect to the PostgreSQL database \(DATABASE_URL\): .*Fix:/);
    expect(message).not.toContain('s3cret-pw');
    expect(exitCode).toBe(1);
  });
});

describe('toCliError: databases that cannot be used', () => {
  it('a file that is not SQLite, and an unwritable directory, each get a fix', () => {
    const input = { database: { sqlitePath: 'x/not.db' } };
    const notDb = errno('file is not a database', { code: 'SQLITE_NOTADB' });
    expect(mapped(notDb, input).message).toBe(
      'the SQLite database x/not.db: file is not a database. Fix: point BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) at the Bulwark database, or restore it from a backup.',
    );
    const denied = errno("EACCES: permission denied, mkdir 'x'", { code: 'EACCES' });
    expect(mapped(denied, input).message).toMatch(
      /^the SQLite database x\/not\.db: EACCES: permission denied, mkdir 'x'\. Fix: let this user write/,
    );
  });
});

describe('loadKeyring: the development key file', () => {
  const logger = pino({ enabled: false });

  it.skipIf(process.platform === 'win32')(
    'refuses a file others can read as a setting (ConfigError, exit 78), with chmod',
    () => {
      const dir = workDir();
      const path = join(dir, 'master-key.json');
      loadKeyring(createConfig({ keys: { devKeyFile: path } }), logger);
      chmodSync(path, 0o640);
      expect(() => loadKeyring(createConfig({ keys: { devKeyFile: path } }), logger)).toThrow(
        ConfigError,
      );
      expect(() => loadKeyring(createConfig({ keys: { devKeyFile: path } }), logger)).toThrow(
        /keys\.devKeyFile \(BULWARK_KEYS_DEV_KEY_FILE\): Key file .* \(mode 0640\); run: chmod 600/,
      );
    },
  );

  it('refuses one it cannot create, naming the file and not the database', () => {
    const dir = workDir();
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const config = createConfig({ keys: { devKeyFile: join(blocker, 'master-key.json') } });
    expect(() => loadKeyring(config, logger)).toThrow(
      /keys\.devKeyFile \(BULWARK_KEYS_DEV_KEY_FILE\): the development key file .*not-a-dir\/master-key\.json cannot be created or read \(E\w+\)\. Fix:/,
    );
  });
});
