import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/index.js';
import { TEST_MASTER_KEY } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { runCli, type CliRun } from '../helpers/cli.js';

/*
 * Help and argument errors of the database commands (migrate, user, keys), run in this process
 * (runCli; the launcher and its exit codes are in cli.test.ts). They are answered before any config is read or database opened, so they do not
 * depend on the dialect and run once, on SQLite; what the commands do with a database is in
 * commands.test.ts and keys-master.test.ts, on both.
 */

const PASSWORD = 'a long passphrase of yours';

let testDb: TestDb;
let dir: string;

beforeAll(async () => {
  testDb = await createTestDb();
  dir = await mkdtemp(join(tmpdir(), 'bulwark-cli-usage-'));
});

afterAll(async () => {
  await testDb.cleanup();
  await rm(dir, { recursive: true, force: true });
});

function bulwark(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  return runCli(args, {
    env: {
      BULWARK_DATABASE_SQLITE_PATH: testDb.sqlitePath,
      BULWARK_KEYS_MASTER_KEY: TEST_MASTER_KEY,
      ...options.env,
    },
    cwd: dir,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
}

/** Users in this file's database (migrated first: a refused command leaves it empty). */
async function userCount(): Promise<number> {
  await migrateToLatest(testDb.db);
  const rows = await testDb.db.kysely.selectFrom('users').select('id').execute();
  return rows.length;
}

describe('bulwark migrate', () => {
  it('refuses arguments it does not know', async () => {
    const res = await bulwark(['migrate', 'now']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Usage: bulwark migrate');
  });
});

describe('bulwark user create', () => {
  it.each([[['--password', 'hunter2-Xq9-visible']], [['--password=hunter2-Xq9-visible']]])(
    'refuses a password in the arguments (%j) without echoing it',
    async (flag) => {
      const res = await bulwark(['user', 'create', '--email', 'p@example.com', ...flag]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--password is not accepted');
      expect(res.stderr).toContain('`ps`');
      expect(res.stderr).toContain('shell history');
      expect(res.stderr).toContain('--password-stdin');
      expect(res.stdout + res.stderr).not.toContain('hunter2-Xq9-visible');
      expect(await userCount()).toBe(0);
    },
  );

  it('does not echo a stray argument, which may be a password', async () => {
    const res = await bulwark(
      ['user', 'create', '--email', 'p@example.com', '--password-stdin', 'hunter2-Xq9-visible'],
      { input: PASSWORD },
    );
    expect(res.code).toBe(2);
    expect(res.stdout + res.stderr).not.toContain('hunter2-Xq9-visible');
  });

  it('asks for --password-stdin when standard input is not a terminal', async () => {
    const res = await bulwark(['user', 'create', '--email', 'tty@example.com'], {
      input: `${PASSWORD}\n`,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^bulwark user: standard input is not a terminal.*--password-stdin/);
    expect(res.stderr).toContain('Usage: bulwark user create');
    expect(await userCount()).toBe(0);
  });

  it.each([
    [['user', 'create', '--password-stdin'], '--email is required'],
    [['user'], 'missing subcommand: create, set-password, mfa-reset or import'],
    [['user', 'delete', '--email', 'x@example.com'], 'unknown subcommand'],
    [['user', 'create', '--email', 'x@example.com', '--admin'], "Unknown option '--admin'"],
    [['user', 'mfa-reset'], '--email is required'],
    [
      ['user', 'mfa-reset', '--email', 'x@example.com', 'now'],
      'user mfa-reset takes no positional',
    ],
    [
      ['user', 'mfa-reset', '--email', 'x@example.com', '--role', 'admin'],
      '--role is not an option of user mfa-reset',
    ],
  ])('refuses %j with the usage and exit code 2', async (args, message) => {
    const res = await bulwark(args, { input: PASSWORD });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(res.stderr).toContain('Usage: bulwark user create');
  });
});

describe('bulwark user set-password', () => {
  it.each([[['--password', 'hunter2-Xq9-visible']], [['--password=hunter2-Xq9-visible']]])(
    'refuses a password in the arguments (%j) without echoing it',
    async (flag) => {
      const res = await bulwark(['user', 'set-password', '--email', 'p@example.com', ...flag]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--password is not accepted');
      expect(res.stderr).toContain('--password-stdin');
      expect(res.stdout + res.stderr).not.toContain('hunter2-Xq9-visible');
    },
  );

  it('does not echo a stray argument, which may be a password', async () => {
    const res = await bulwark(
      [
        'user',
        'set-password',
        '--email',
        'p@example.com',
        '--password-stdin',
        'hunter2-Xq9-visible',
      ],
      { input: PASSWORD },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^bulwark user: user set-password takes no positional arguments\n/);
    expect(res.stdout + res.stderr).not.toContain('hunter2-Xq9-visible');
  });

  it('asks for --password-stdin when standard input is not a terminal', async () => {
    const res = await bulwark(['user', 'set-password', '--email', 'tty@example.com'], {
      input: `${PASSWORD}\n`,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^bulwark user: standard input is not a terminal.*--password-stdin/);
  });

  it.each([
    [['user', 'set-password', '--password-stdin'], '--email is required'],
    [['user', 'set-password'], '--email is required'],
    [
      ['user', 'set-password', '--email', 'x@example.com', '--role', 'admin', '--password-stdin'],
      '--role is not an option of user set-password',
    ],
    [
      ['user', 'set-password', '--email', 'x@example.com', '--name', 'X', '--password-stdin'],
      '--name is not an option of user set-password',
    ],
    [['user', 'set-password', '--email', 'x@example.com', '--force'], "Unknown option '--force'"],
  ])('refuses %j with the usage and exit code 2', async (args, message) => {
    const res = await bulwark(args, { input: PASSWORD });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(res.stderr).toContain('Usage: bulwark user create');
    expect(res.stderr).toContain('bulwark user set-password --email EMAIL');
    expect(res.stdout).toBe('');
  });
});

describe('bulwark keys', () => {
  it('refuses a missing or unknown subcommand', async () => {
    for (const args of [['keys'], ['keys', 'list']]) {
      const res = await bulwark(args);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('Usage: bulwark keys rotate');
    }
  });

  it('reencrypt has its own --help, and so does rotate-master', async () => {
    for (const [sub, usage] of [
      ['reencrypt', 'Usage: bulwark keys reencrypt [--batch-size N] [--config FILE]\n'],
      ['rotate-master', 'Usage: bulwark keys rotate-master [--out FILE]'],
    ] as const) {
      const res = await bulwark(['keys', sub, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout.startsWith(usage)).toBe(true);
    }
  });

  it('reencrypt refuses a bad --batch-size', async () => {
    const env = { BULWARK_KEYS_MASTER_KEY: randomBytes(32).toString('base64') };
    for (const size of ['0', '-1', '1.5', 'ten', '10001']) {
      const res = await bulwark(['keys', 'reencrypt', `--batch-size=${size}`], { env });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--batch-size must be an integer from 1 to 10000');
    }
  });
});

describe('help', () => {
  it.each([
    [['migrate', '--help'], 'Usage: bulwark migrate'],
    [['keys', 'rotate', '--help'], 'Usage: bulwark keys rotate'],
    [['user', 'create', '--help'], 'Usage: bulwark user create'],
    [['user', 'create', '-h'], 'Usage: bulwark user create'],
    [['user', 'set-password', '--help'], 'Usage: bulwark user create'],
  ])('%j prints the usage and exits 0', async (args, usage) => {
    const res = await bulwark(args);
    expect(res.code).toBe(0);
    expect(res.stdout.startsWith(usage)).toBe(true);
    expect(res.stderr).toBe('');
  });

  it('lists the commands in the main help', async () => {
    const res = await bulwark(['--help']);
    expect(res.code).toBe(0);
    for (const command of [
      'serve',
      'migrate',
      'keys rotate',
      'user create',
      'user set-password',
      'user mfa-reset',
    ])
      expect(res.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });
});
