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

/** `text` matched literally inside a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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
    [['user', 'create', '--email', 'x@example.com', '--admin'], 'unknown option --admin\n'],
    [['user', 'mfa-reset'], '--email is required'],
    [
      ['user', 'mfa-reset', '--email', 'x@example.com', 'now'],
      'user mfa-reset takes no positional',
    ],
    [
      ['user', 'mfa-reset', '--email', 'x@example.com', '--role', 'admin'],
      '--role is not an option of user mfa-reset',
    ],
  ])('refuses %j with the synopsis and exit code 2', async (args, message) => {
    const res = await bulwark(args, { input: PASSWORD });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(res.stderr).toContain('Usage: bulwark user ');
    expect(res.stderr).toMatch(/\nRun 'bulwark user --help' for the full usage\.\n$/);
    // The synopsis, not the whole usage, which would scroll the error away.
    expect(res.stderr).not.toContain('Options:');
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
    [['user', 'set-password', '--email', 'x@example.com', '--force'], 'unknown option --force\n'],
  ])('refuses %j with the synopsis of set-password and exit code 2', async (args, message) => {
    const res = await bulwark(args, { input: PASSWORD });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(res.stderr).toContain(
      '\n\nUsage: bulwark user set-password --email EMAIL [--password-stdin] [--config FILE]\n' +
        "Run 'bulwark user --help' for the full usage.\n",
    );
    // Only the subcommand named: not the other forms of `user`.
    expect(res.stderr).not.toContain('user create');
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

describe('usage errors', () => {
  it('print the message, the synopsis of the subcommand named, and where the usage is', async () => {
    const res = await bulwark(['user', 'create', '--bogus']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      [
        'bulwark user: unknown option --bogus',
        '',
        'Usage: bulwark user create --email EMAIL [--name NAME] [--role ROLE] [--password-stdin]',
        '                           [--config FILE]',
        "Run 'bulwark user --help' for the full usage.",
        '',
      ].join('\n'),
    );
    expect(res.stdout).toBe('');
  });

  it('print every form of a command with subcommands when none is named', async () => {
    const res = await bulwark(['user', '--bogus']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      [
        'bulwark user: unknown option --bogus',
        '',
        'Usage: bulwark user create --email EMAIL [--name NAME] [--role ROLE] [--password-stdin]',
        '                           [--config FILE]',
        '       bulwark user set-password --email EMAIL [--password-stdin] [--config FILE]',
        '       bulwark user mfa-reset --email EMAIL [--config FILE]',
        '       bulwark user import [--file FILE] [--skip-existing] [--dry-run] [--config FILE]',
        "Run 'bulwark user --help' for the full usage.",
        '',
      ].join('\n'),
    );
  });

  it('print the synopsis of a command without subcommands', async () => {
    const res = await bulwark(['migrate', '--bogus']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      [
        'bulwark migrate: unknown option --bogus',
        '',
        'Usage: bulwark migrate [--config FILE]',
        "Run 'bulwark migrate --help' for the full usage.",
        '',
      ].join('\n'),
    );
  });

  it.each([
    [
      ['keys', 'rotate', '--bogus'],
      'Usage: bulwark keys rotate [--now | --revoke-old] [--config FILE]',
      'keys',
    ],
    [
      ['keys', '--config', 'c.json', 'reencrypt', '--now'],
      'Usage: bulwark keys reencrypt [--batch-size N] [--config FILE]',
      'keys reencrypt',
    ],
    [
      ['keys', 'rotate-master', '--format'],
      'Usage: bulwark keys rotate-master [--out FILE] [--format value|json] [--config FILE]',
      'keys rotate-master',
    ],
  ])('%j: one form, and the help that describes it', async (args, synopsis, help) => {
    const res = await bulwark(args);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(
      new RegExp(
        `\\n\\n${literal(synopsis)}\\nRun 'bulwark ${help} --help' for the full usage\\.\\n$`,
      ),
    );
  });

  it("find the subcommand after an option, never in an option's value", async () => {
    const after = await bulwark(['user', '--email', 'x@example.com', 'mfa-reset', '--bogus']);
    expect(after.stderr).toContain(
      '\n\nUsage: bulwark user mfa-reset --email EMAIL [--config FILE]\nRun',
    );
    // "import" is the value of --name here: the subcommand is create.
    const value = await bulwark(['user', '--name', 'import', 'create', '--bogus']);
    expect(value.stderr).toContain('\n\nUsage: bulwark user create --email EMAIL');
    expect(value.stderr).not.toContain('user import');
  });

  it.each([
    [['user', 'create', '--bogus'], 'unknown option --bogus'],
    [['user', 'create', '-x'], 'unknown option -x'],
    [['migrate', '--bogus=value'], 'unknown option --bogus'],
    [['user', 'create', '--email'], 'option --email needs a value'],
    [['keys', 'reencrypt', '--batch-size'], 'option --batch-size needs a value'],
    [
      ['user', 'create', '--email', '--name', 'X'],
      'option --email needs a value (for one that starts with "-", write --email=VALUE)',
    ],
    [['doctor', '--json=yes'], 'option --json takes no value'],
    [['user', 'create', '--password-stdin=1'], 'option --password-stdin takes no value'],
  ])('%j: %s', async (args, message) => {
    const res = await bulwark(args);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(new RegExp(`^bulwark \\S+: ${literal(message)}\\n\\nUsage: `));
  });

  it('never echo the value given with an unknown option, which may be a password', async () => {
    const res = await bulwark([
      'user',
      'create',
      '--email',
      'p@example.com',
      '--pasword=hunter2-Xq9',
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^bulwark user: unknown option --pasword\n/);
    expect(res.stdout + res.stderr).not.toContain('hunter2-Xq9');
  });

  it('leave --help with the whole usage', async () => {
    const res = await bulwark(['user', 'create', '--bogus', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Options:');
    expect(res.stdout).toContain('Examples:');
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
