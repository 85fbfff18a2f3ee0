import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher, Keyring } from '../../src/crypto/index.js';
import { ENCRYPTED_COLUMNS, fieldContext, type NewUserRow } from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { cliDatabaseEnv, runCli, type CliRun } from '../helpers/cli.js';
import { BIN, runNode, type Finished } from '../helpers/process.js';

/*
 * `bulwark keys rotate-master` and `bulwark keys reencrypt` against this test's database: a
 * temporary SQLite file, or a PostgreSQL schema when DATABASE_URL is set. Most runs are the
 * CLI's `main` in this process (runCli); runs that are killed, get a signal, draw on a terminal
 * or use the process's working directory are real processes of the built CLI.
 */

const SLOW = 180_000;
const USERS = 3_000;
const BATCH = 20;
const PHONE = ENCRYPTED_COLUMNS.usersPhone;
const PRIVATE_KEY = ENCRYPTED_COLUMNS.signingKeysPrivateKey;

let testDb: TestDb;
let dir: string;

beforeEach(async () => {
  testDb = await createMigratedTestDb();
  dir = await mkdtemp(join(tmpdir(), 'bulwark-keys-master-'));
});

afterEach(async () => {
  await testDb.cleanup();
  await rm(dir, { recursive: true, force: true });
});

function cliEnv(keys: Record<string, string>): Record<string, string> {
  return cliDatabaseEnv(testDb, keys);
}

/** The CLI in this process, with the test's environment and directory. */
function bulwark(args: string[], keys: Record<string, string>): Promise<CliRun> {
  return runCli(args, { env: cliEnv(keys), cwd: dir });
}

/** The built CLI as a process (bin/bulwark.js), started in the test's directory. */
function bulwarkProcess(args: string[], keys: Record<string, string>): Promise<Finished> {
  return runNode([BIN, ...args], { env: cliEnv(keys), cwd: dir, timeoutMs: 120_000 });
}

/** A key file with one random version, mode 0600. */
function writeKeyFile(path: string, keyring: Keyring): void {
  writeFileSync(path, JSON.stringify(keyring.toFileJson()), { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Inserts `count` users, each with a distinct phone encrypted under `keyring` as the service does. */
async function seedUsers(keyring: Keyring, count: number): Promise<Map<string, string>> {
  const cipher = new FieldCipher(keyring, PHONE.purpose);
  const phones = new Map<string, string>();
  const rows: NewUserRow[] = [];
  const now = Date.now();
  for (let i = 0; i < count; i += 1) {
    const id = randomUUID();
    const phone = `+1202${String(5_000_000 + i).padStart(7, '0')}`;
    phones.set(id, phone);
    rows.push({
      id,
      email: `seed-${i}-${id.slice(0, 6)}@example.com`,
      name: `Seed ${i}`,
      password_hash: null,
      role: 'user',
      phone_enc: cipher.encrypt(phone, fieldContext(PHONE, id)),
      email_verified: 0,
      mfa_enabled: 0,
      disabled: 0,
      created_at: now,
      updated_at: now,
    });
  }
  for (let i = 0; i < rows.length; i += 500) {
    await testDb.db.kysely
      .insertInto('users')
      .values(rows.slice(i, i + 500))
      .execute();
  }
  return phones;
}

async function storedPhones(): Promise<{ id: string; phone_enc: string | null }[]> {
  return testDb.db.kysely.selectFrom('users').select(['id', 'phone_enc']).execute();
}

/** Decrypts every phone with `keyring` and checks it against the originals; returns versions. */
async function expectPhones(keyring: Keyring, phones: Map<string, string>): Promise<Set<number>> {
  const cipher = new FieldCipher(keyring, PHONE.purpose);
  const rows = await storedPhones();
  expect(rows).toHaveLength(phones.size);
  const versions = new Set<number>();
  for (const row of rows) {
    expect(cipher.decrypt(row.phone_enc!, fieldContext(PHONE, row.id))).toBe(phones.get(row.id));
    versions.add(cipher.keyVersionOf(row.phone_enc!));
  }
  return versions;
}

/** Decrypts every wrapped signing key with `keyring`; returns the versions they are under. */
async function expectSigningKeys(keyring: Keyring): Promise<Set<number>> {
  const cipher = new FieldCipher(keyring, PRIVATE_KEY.purpose);
  const rows = await testDb.db.kysely.selectFrom('signing_keys').selectAll().execute();
  expect(rows.length).toBeGreaterThan(0);
  const versions = new Set<number>();
  for (const row of rows) {
    const jwk = JSON.parse(
      cipher.decrypt(row.private_key_enc, fieldContext(PRIVATE_KEY, row.id)),
    ) as { d?: string };
    expect(typeof jwk.d).toBe('string');
    versions.add(cipher.keyVersionOf(row.private_key_enc));
  }
  return versions;
}

/** The numbers of one report row: examined, re-encrypted, already current, changed, unreadable. */
function reportRow(stdout: string, column: string): number[] {
  const line = stdout.split('\n').find((l) => l.startsWith(`${column} `));
  if (!line) throw new Error(`no ${column} row in:\n${stdout}`);
  return line.trim().split(/\s+/).slice(1).map(Number);
}

async function auditTypes(): Promise<{ type: string; outcome: string; details: string }[]> {
  return testDb.db.kysely
    .selectFrom('audit_events')
    .select(['type', 'outcome', 'details'])
    .orderBy('seq')
    .execute();
}

/**
 * Starts `keys reencrypt` and SIGKILLs it as soon as its progress shows a batch committed but
 * the column unfinished. Resolves with the progress text seen.
 */
function reencryptAndKill(
  keys: Record<string, string>,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, 'keys', 'reencrypt', '--batch-size', String(BATCH)],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, ...cliEnv(keys) },
      },
    );
    let stderr = '';
    let stdout = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /progress: users\.phone (\d+)\/(\d+)/g;
      for (const m of stderr.matchAll(match)) {
        if (!killed && Number(m[1]) > 0 && Number(m[1]) < Number(m[2])) {
          killed = true;
          child.kill(signal);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, received) => {
      if (killed) resolve({ code, signal: received, stdout, stderr });
      else reject(new Error(`reencrypt finished before the signal (exit ${code}):\n${stderr}`));
    });
  });
}

describe(
  `rotate-master and reencrypt with a key file on ${dialectUnderTest}`,
  { timeout: SLOW },
  () => {
    it('keeps old data readable, survives SIGKILL midway, finishes on rerun, and lets v1 retire', async () => {
      const keyFile = join(dir, 'master-key.json');
      const v1 = new Keyring(new Map([[1, randomBytes(32)]]), 1);
      writeKeyFile(keyFile, v1);
      const keys = { BULWARK_KEYS_MASTER_KEY_FILE: keyFile };
      const phones = await seedUsers(v1, USERS);

      // --- rotate-master: a new version in the file, the old one kept.
      const rotated = await bulwark(['keys', 'rotate-master'], keys);
      expect(rotated.stderr).toBe('');
      expect(rotated.code).toBe(0);
      expect(rotated.stdout).toContain('master key version: 2 (was 1)');
      expect(rotated.stdout).toContain(`key file: ${keyFile} (versions 1, 2)`);
      const v1Json = v1.toFileJson();
      for (const key of Object.values(v1Json.keys)) expect(rotated.stdout).not.toContain(key);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      // No temporary or lock file is left next to it.
      expect(await readdir(dir)).toEqual(['master-key.json']);
      const v2 = Keyring.fromFile(keyFile);
      expect(v2.versions()).toEqual([1, 2]);
      expect(v2.currentVersion).toBe(2);
      expect(v2.toFileJson().keys['1']).toBe(v1Json.keys['1']);

      // Right after the rotation, before any re-encryption: everything reads, under version 1.
      expect(await expectPhones(v2, phones)).toEqual(new Set([1]));
      expect(await expectSigningKeys(v2)).toEqual(new Set([1]));

      // --- reencrypt, killed after its first committed batch.
      const killed = await reencryptAndKill(keys);
      expect(killed.signal).toBe('SIGKILL');
      expect(killed.stdout).toBe('');
      expect(killed.stderr).toMatch(/progress: users\.phone 0\/3000 \(0%\)/);
      const between = await storedPhones();
      const cipher = new FieldCipher(v2, PHONE.purpose);
      const movedBefore = between.filter((r) => cipher.keyVersionOf(r.phone_enc!) === 2).length;
      // Stopped midway: some values moved, some not, and nothing is lost or corrupt.
      expect(movedBefore).toBeGreaterThanOrEqual(BATCH);
      expect(movedBefore).toBeLessThan(USERS);
      expect(await expectPhones(v2, phones)).toEqual(new Set([1, 2]));

      // --- the rerun finishes the job and says what it did.
      const rerun = await bulwark(['keys', 'reencrypt', '--batch-size', String(BATCH)], keys);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.stdout).toContain('key version: 2');
      const [examined, reencrypted, current, changed, unreadable] = reportRow(
        rerun.stdout,
        'users.phone',
      );
      expect(examined).toBe(USERS);
      expect(current).toBe(movedBefore);
      expect(reencrypted).toBe(USERS - movedBefore);
      expect([changed, unreadable]).toEqual([0, 0]);
      expect(reportRow(rerun.stdout, 'signing_keys.private_key')).toEqual([1, 1, 0, 0, 0]);
      // Progress went to stderr (plain lines: not a terminal), the report to stdout.
      expect(rerun.stderr).toMatch(/^progress: users\.phone 0\/3000 \(0%\)$/m);
      expect(rerun.stderr).toMatch(/^progress: users\.phone 3000\/3000 \(100%\)$/m);
      expect(rerun.stdout).not.toContain('progress:');

      expect(await expectPhones(v2, phones)).toEqual(new Set([2]));
      expect(await expectSigningKeys(v2)).toEqual(new Set([2]));

      // --- a third run changes nothing.
      const third = await bulwark(['keys', 'reencrypt'], keys);
      expect(third.code).toBe(0);
      expect(reportRow(third.stdout, 'users.phone')).toEqual([USERS, 0, USERS, 0, 0]);

      // --- retire version 1: a key file with version 2 only still reads everything.
      const onlyV2 = new Keyring(
        new Map([[2, Buffer.from(v2.toFileJson().keys['2']!, 'base64')]]),
        2,
      );
      writeKeyFile(keyFile, onlyV2);
      expect(await expectPhones(onlyV2, phones)).toEqual(new Set([2]));
      expect(await expectSigningKeys(onlyV2)).toEqual(new Set([2]));
      const retired = await bulwark(['keys', 'reencrypt'], keys);
      expect(retired.code, retired.stderr).toBe(0);
      expect(reportRow(retired.stdout, 'users.phone')).toEqual([USERS, 0, USERS, 0, 0]);
      // The service itself starts and signs with version 2 alone.
      expect((await bulwark(['keys', 'rotate'], keys)).code).toBe(0);

      // Each step is in the audit table.
      const events = await auditTypes();
      const master = events.filter((e) => e.type === 'keys.master_rotated');
      expect(master).toHaveLength(1);
      expect(JSON.parse(master[0]!.details)).toMatchObject({
        previousVersion: 1,
        newVersion: 2,
        source: 'key_file',
        installed: true,
      });
      const runs = events.filter((e) => e.type === 'keys.reencrypted');
      // The killed run never got to record itself; the three completed ones did.
      expect(runs.map((e) => e.outcome)).toEqual(['success', 'success', 'success']);
      expect(JSON.parse(runs[0]!.details)).toMatchObject({
        keyVersion: 2,
        reencrypted: USERS - movedBefore + 1,
        unreadable: 0,
      });
    });
  },
);

describe(`interrupting reencrypt with Ctrl-C on ${dialectUnderTest}`, { timeout: SLOW }, () => {
  // SIGHUP is what a dropped SSH session sends: it killed the run outright, so the interrupted
  // run was missing from the audit log and no report said how far it got.
  it.each(['SIGINT', 'SIGHUP'] as const)(
    'stops on %s after the batch in flight, reports what it did, and exits 130',
    async (signal) => {
      const v1 = Keyring.fromEnvValue(`1:${randomBytes(32).toString('base64')}`);
      const phones = await seedUsers(v1, USERS);
      const v2 = v1.addVersion();
      const json = v2.toFileJson();
      const keys = { BULWARK_KEYS_MASTER_KEY: `2:${json.keys['2']!},1:${json.keys['1']!}` };
      const stopped = await reencryptAndKill(keys, signal);
      expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130);
      expect(stopped.stderr).toContain('bulwark keys: interrupted; run it again to finish');
      const [examined, reencrypted] = reportRow(stopped.stdout, 'users.phone');
      expect(examined).toBeGreaterThan(0);
      expect(examined).toBeLessThan(USERS);
      // What the report says was done is exactly what the database holds.
      const cipher = new FieldCipher(v2, PHONE.purpose);
      const moved = (await storedPhones()).filter((r) => cipher.keyVersionOf(r.phone_enc!) === 2);
      expect(moved).toHaveLength(reencrypted!);
      expect(await expectPhones(v2, phones)).toEqual(new Set([1, 2]));
      const [event] = (await auditTypes()).filter((e) => e.type === 'keys.reencrypted');
      expect(event!.outcome).toBe('failure');
      expect(JSON.parse(event!.details)).toMatchObject({ interrupted: true });
    },
  );
});

describe(
  `rotate-master with the development key file on ${dialectUnderTest}`,
  { timeout: SLOW },
  () => {
    // Processes: the default file is relative to the process's working directory.
    it('rotates the generated file in place', async () => {
      // No key configured: outside production the development file (./data/master-key.json) is used.
      expect((await bulwarkProcess(['keys', 'rotate'], {})).code).toBe(0);
      const devFile = join(dir, 'data', 'master-key.json');
      expect(Keyring.fromFile(devFile).versions()).toEqual([1]);
      const res = await bulwarkProcess(['keys', 'rotate-master'], {});
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('key file: ./data/master-key.json (versions 1, 2)');
      expect(Keyring.fromFile(devFile).currentVersion).toBe(2);
      const [event] = (await auditTypes()).filter((e) => e.type === 'keys.master_rotated');
      expect(JSON.parse(event!.details)).toMatchObject({ source: 'dev_key_file' });
    });
  },
);

describe(
  `rotate-master with the key in the environment on ${dialectUnderTest}`,
  { timeout: SLOW },
  () => {
    const V1 = randomBytes(32).toString('base64');
    const env = { BULWARK_KEYS_MASTER_KEY: V1 };

    it('needs --out, and refuses --out for a key file', async () => {
      const res = await bulwark(['keys', 'rotate-master'], env);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('cannot change: give --out FILE');
      expect(res.stderr).toContain('Usage: bulwark keys rotate-master');

      const keyFile = join(dir, 'k.json');
      writeKeyFile(keyFile, new Keyring(new Map([[1, randomBytes(32)]]), 1));
      const file = await bulwark(['keys', 'rotate-master', '--out', join(dir, 'x')], {
        BULWARK_KEYS_MASTER_KEY_FILE: keyFile,
      });
      expect(file.code).toBe(2);
      expect(file.stderr).toContain('rotated in place');

      for (const args of [
        ['keys', 'rotate-master', '--out', join(dir, 'y'), '--format', 'yaml'],
        ['keys', 'rotate-master', '--format', 'json'],
        ['keys', 'rotate-master', 'now'],
      ]) {
        expect((await bulwark(args, env)).code).toBe(2);
      }
    });

    it('writes the whole new keyring as a BULWARK_MASTER_KEY value, 0600, never over a file', async () => {
      const keyring = Keyring.fromEnvValue(V1);
      const phones = await seedUsers(keyring, 50);
      const out = join(dir, 'new-master-key');
      const res = await bulwark(['keys', 'rotate-master', '--out', out], env);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('master key version: 2 (was 1)');
      expect(res.stdout).toContain(
        `new keyring written to: ${out} (versions 1, 2; value for BULWARK_MASTER_KEY)`,
      );
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const value = (await readFile(out, 'utf8')).trim();
      expect(value).toMatch(/^2:[A-Za-z0-9+/]+=*,1:[A-Za-z0-9+/]+=*$/);
      for (const part of value.split(/[,:]/).filter((p) => p.length > 8))
        expect(res.stdout + res.stderr).not.toContain(part);
      const next = Keyring.fromEnvValue(value);
      expect(next.currentVersion).toBe(2);
      expect(next.toFileJson().keys['1']).toBe(keyring.toFileJson().keys['1']);

      // A directory that does not exist is --out's problem, not the database's.
      const nowhere = join(dir, 'no-such-dir', 'new-master-key');
      const missing = await bulwark(['keys', 'rotate-master', '--out', nowhere], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(
        new RegExp(
          `^bulwark keys: cannot write the new keyring to --out ${nowhere}: ENOENT: .*\\. Fix: give --out a new file in an existing directory`,
          'm',
        ),
      );
      expect(missing.stderr).not.toContain('database');

      // Never overwritten: a second run refuses and leaves the first keyring intact.
      const again = await bulwark(['keys', 'rotate-master', '--out', out], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toBe(`bulwark keys: ${out} already exists; it is never overwritten\n`);
      expect((await readFile(out, 'utf8')).trim()).toBe(value);

      // Installed, the new value reads the old data and moves it to version 2.
      const reenc = await bulwark(['keys', 'reencrypt'], { BULWARK_KEYS_MASTER_KEY: value });
      expect(reenc.code, reenc.stderr).toBe(0);
      expect(reportRow(reenc.stdout, 'users.phone')).toEqual([50, 50, 0, 0, 0]);
      expect(await expectPhones(next, phones)).toEqual(new Set([2]));

      const events = (await auditTypes()).filter((e) => e.type === 'keys.master_rotated');
      expect(JSON.parse(events[0]!.details)).toMatchObject({ source: 'value', installed: false });
    });

    it('--format json writes a key file usable as keys.masterKeyFile', async () => {
      const out = join(dir, 'master-key.json');
      // A relative --out is written in the run's directory, and named as given.
      const res = await bulwark(
        ['keys', 'rotate-master', '--out', 'master-key.json', '--format', 'json'],
        env,
      );
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('new keyring written to: master-key.json (versions 1, 2;');
      const keyring = Keyring.fromFile(out);
      expect(keyring.versions()).toEqual([1, 2]);
      expect(keyring.currentVersion).toBe(2);
      const ok = await bulwark(['keys', 'reencrypt'], { BULWARK_KEYS_MASTER_KEY_FILE: out });
      expect(ok.code, ok.stderr).toBe(0);
      expect(reportRow(ok.stdout, 'signing_keys.private_key')).toEqual([1, 1, 0, 0, 0]);
    });
  },
);

describe(`reencrypt on a terminal on ${dialectUnderTest}`, { timeout: SLOW }, () => {
  it.runIf(existsSync('/usr/bin/script'))(
    'redraws one progress bar in place instead of writing lines',
    async () => {
      const value = randomBytes(32).toString('base64');
      await seedUsers(Keyring.fromEnvValue(value), 40);
      // util-linux `script` runs the command on a pseudo-terminal, as an operator's shell would.
      const command = `${process.execPath} ${BIN} keys reencrypt --batch-size 5`;
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn('/usr/bin/script', ['-q', '-e', '-c', command, '/dev/null'], {
          cwd: dir,
          env: { PATH: process.env.PATH, ...cliEnv({ BULWARK_KEYS_MASTER_KEY: value }) },
        });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`)),
        );
      });
      expect(output).toContain('\r\x1b[2K[');
      expect(output).toContain(`[${'#'.repeat(30)}] users.phone 40/40 (100%)`);
      expect(output).not.toContain('progress:');
      expect(output).toContain('users.phone');
    },
  );
});

describe(`keys.currentVersion stages a rotation on ${dialectUnderTest}`, { timeout: SLOW }, () => {
  it('keeps new values under the pinned version until the pin goes, and refuses a version it lacks', async () => {
    const v2 = new Keyring(new Map([[1, randomBytes(32)]]), 1).addVersion();
    const json = v2.toFileJson();
    const value = `2:${json.keys['2']!},1:${json.keys['1']!}`;
    const phones = await seedUsers(v2.withCurrent(1), 10);

    // Pinned to 1: the new key is known (readable) but not used for writing.
    const pinned = await bulwark(['keys', 'reencrypt'], {
      BULWARK_KEYS_MASTER_KEY: value,
      BULWARK_KEYS_CURRENT_VERSION: '1',
    });
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stdout).toContain('key version: 1\n');
    expect(reportRow(pinned.stdout, 'users.phone')).toEqual([10, 0, 10, 0, 0]);
    expect(await expectSigningKeys(v2)).toEqual(new Set([1]));

    // The pin gone, version 2 takes over.
    const unpinned = await bulwark(['keys', 'reencrypt'], { BULWARK_KEYS_MASTER_KEY: value });
    expect(unpinned.code).toBe(0);
    expect(reportRow(unpinned.stdout, 'users.phone')).toEqual([10, 10, 0, 0, 0]);
    expect(await expectPhones(v2, phones)).toEqual(new Set([2]));

    const unknown = await bulwark(['keys', 'reencrypt'], {
      BULWARK_KEYS_MASTER_KEY: value,
      BULWARK_KEYS_CURRENT_VERSION: '3',
    });
    expect(unknown.code).toBe(78);
    expect(unknown.stderr).toContain(
      'keys.currentVersion (BULWARK_KEYS_CURRENT_VERSION): Key version 3 is not in the keyring (versions: 1, 2)',
    );
    expect(unknown.stderr).not.toContain(json.keys['1']!);
  });
});

describe(`reencrypt and values it cannot read on ${dialectUnderTest}`, { timeout: SLOW }, () => {
  it('re-encrypts the rest, names the rows (never the values) and exits 1', async () => {
    const v1 = Keyring.fromEnvValue(`1:${randomBytes(32).toString('base64')}`);
    const phones = await seedUsers(v1, 30);
    const [victim, other] = [...phones.keys()].sort();
    // A valid envelope copied onto another row: its AAD names the first row.
    const stolen = (await storedPhones()).find((r) => r.id === victim)!.phone_enc!;
    await testDb.db.kysely
      .updateTable('users')
      .set({ phone_enc: stolen })
      .where('id', '=', other!)
      .execute();
    const v2 = v1.addVersion();
    const value = `2:${v2.toFileJson().keys['2']!},1:${v2.toFileJson().keys['1']!}`;

    const res = await bulwark(['keys', 'reencrypt', '--batch-size', '7'], {
      BULWARK_KEYS_MASTER_KEY: value,
    });
    expect(res.code).toBe(1);
    expect(reportRow(res.stdout, 'users.phone')).toEqual([30, 29, 0, 0, 1]);
    expect(res.stdout).toContain(`unreadable: users.phone id=${other} (authentication failed)\n`);
    expect(res.stderr).toContain('1 value(s) could not be decrypted');
    expect(res.stdout + res.stderr).not.toContain(stolen);
    expect(res.stdout + res.stderr).not.toContain(phones.get(victim!)!);
    // The unreadable value is left exactly as it was; every other one moved.
    const rows = await storedPhones();
    expect(rows.find((r) => r.id === other)!.phone_enc).toBe(stolen);
    const cipher = new FieldCipher(v2, PHONE.purpose);
    for (const row of rows.filter((r) => r.id !== other)) {
      expect(cipher.decrypt(row.phone_enc!, fieldContext(PHONE, row.id))).toBe(phones.get(row.id));
      expect(cipher.keyVersionOf(row.phone_enc!)).toBe(2);
    }
    const [event] = (await auditTypes()).filter((e) => e.type === 'keys.reencrypted');
    expect(event!.outcome).toBe('failure');
    expect(JSON.parse(event!.details)).toMatchObject({ unreadable: 1, reencrypted: 29 });
  });
});
