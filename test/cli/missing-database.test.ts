import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/*
 * The commands that work on a deployment's keys or accounts, run from the wrong directory (or
 * with a mistyped database.sqlitePath), must say so: before, each created an empty, migrated
 * SQLite file there (and, with no master key configured, a development key file), then rotated
 * keys nobody uses or reported an unknown user. `user create` and `user import` still create the
 * database: the first administrator is made before the first start.
 */

const dir = mkdtempSync(join(tmpdir(), 'bulwark-missing-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('commands on an existing deployment, given a SQLite file that is not there', () => {
  const database = join(dir, 'data', 'bulwark.db');
  const devKeyFile = join(dir, 'data', 'master-key.json');
  it.each([
    [['keys', 'rotate'], { BULWARK_KEYS_MASTER_KEY: randomBytes(32).toString('base64') }],
    [['keys', 'rotate-master'], {}],
    [['keys', 'reencrypt'], { BULWARK_KEYS_MASTER_KEY: randomBytes(32).toString('base64') }],
    [['user', 'set-password', '--email', 'a@example.com', '--password-stdin'], {}],
    [['user', 'mfa-reset', '--email', 'a@example.com'], {}],
  ])('bulwark %j refuses and creates nothing', async (args, extra) => {
    const env = {
      BULWARK_DATABASE_SQLITE_PATH: database,
      BULWARK_KEYS_DEV_KEY_FILE: devKeyFile,
      ...extra,
    };
    const res = await runCli(args, { env, cwd: dir, input: 'a long passphrase of yours\n' });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `bulwark ${args[0]}: the SQLite database ${database} does not exist. Fix: point ` +
        "BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) at the service's database (a relative " +
        'path starts from the current directory), or run `bulwark migrate` to create one.\n',
    );
    expect(existsSync(database)).toBe(false);
    expect(existsSync(devKeyFile)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('user create still creates the database (the first administrator comes first)', async () => {
    const env = {
      BULWARK_DATABASE_SQLITE_PATH: database,
      BULWARK_KEYS_MASTER_KEY: randomBytes(32).toString('base64'),
      BULWARK_PASSWORDS_ARGON2_MEMORY_KIB: '1024',
      BULWARK_PASSWORDS_ARGON2_ITERATIONS: '1',
    };
    const res = await runCli(
      ['user', 'create', '--email', 'first@example.com', '--role', 'admin', '--password-stdin'],
      { env, cwd: dir, input: 'Vq7a pL2m Z9wR 4tKx\n' },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(database)).toBe(true);
  });
});
