import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/*
 * `bulwark user set-password` / `mfa-reset` for an address with no account. Run with another
 * database than the service's (another directory's SQLite file), every address is unknown there:
 * the message names the database it read and says what to check. (A file that does not exist is
 * refused before that: test/cli/missing-database.test.ts.)
 */
describe('bulwark user, unknown address', () => {
  it('names the database it looked in and how to reach the service’s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-user-not-found-'));
    const env = {
      BULWARK_KEYS_MASTER_KEY: randomBytes(32).toString('base64'),
      BULWARK_DATABASE_SQLITE_PATH: join(dir, 'other.db'),
    };
    expect((await runCli(['migrate'], { env, cwd: dir })).code).toBe(0);
    for (const args of [
      ['user', 'mfa-reset', '--email', 'nobody@example.com'],
      ['user', 'set-password', '--email', 'nobody@example.com', '--password-stdin'],
    ]) {
      const res = await runCli(args, { env, cwd: dir, input: 'a long passphrase of yours\n' });
      expect(res.code, args[1]).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe(
        `bulwark user: no user with this email in the SQLite database ${join(dir, 'other.db')}. ` +
          "Fix: check the address, and run the command with the service's settings " +
          '(environment, --config) from its working directory.\n',
      );
    }
  });
});
