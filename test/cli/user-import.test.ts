import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { PasswordHasher } from '../../src/crypto/index.js';
import { migrateToLatest } from '../../src/db/index.js';
import { LogCapture, TEST_MASTER_KEY, testConfigInput } from '../helpers/app.js';
import { cliDatabaseEnv, runCli, type CliRun } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

// `bulwark user import` against a database of its own (a SQLite file, or a PostgreSQL schema),
// then the service on the same database: the imported accounts sign in with their old passwords.

const OLD_PASSWORD = 'the password from the old system';

let testDb: TestDb;
let dir: string;
let app: BulwarkApp | undefined;

beforeEach(async () => {
  testDb = await createTestDb();
  dir = await mkdtemp(join(tmpdir(), 'bulwark-user-import-'));
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await testDb.cleanup();
  await rm(dir, { recursive: true, force: true });
});

function bulwark(args: string[], input?: string): Promise<CliRun> {
  return runCli(['user', 'import', ...args], {
    env: cliDatabaseEnv(testDb, { BULWARK_KEYS_MASTER_KEY: TEST_MASTER_KEY }),
    cwd: dir,
    ...(input === undefined ? {} : { input }),
  });
}

async function service(): Promise<BulwarkApp> {
  app ??= await buildApp(createConfig(testConfigInput(testDb)), { logger: new LogCapture() });
  return app;
}

async function login(email: string, password: string) {
  const res = await (
    await service()
  ).inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
}

async function storedUsers() {
  await migrateToLatest(testDb.db);
  return testDb.db.kysely
    .selectFrom('users')
    .select(['email', 'name', 'role', 'password_hash', 'email_verified'])
    .orderBy('email')
    .execute();
}

const jsonl = (...records: Record<string, unknown>[]): string =>
  records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('bulwark user import', () => {
  it('creates the accounts; old bcrypt and argon2 hashes sign in and become argon2id', async () => {
    const bcrypt = await bcryptHash(OLD_PASSWORD, 4);
    // argon2 at other parameters than the service's: verified as they are, then rehashed.
    const argon2 = await new PasswordHasher({
      memoryKiB: 2048,
      iterations: 2,
      parallelism: 1,
    }).hash(OLD_PASSWORD);
    await writeFile(
      join(dir, 'users.jsonl'),
      jsonl(
        {
          email: 'Ann@Example.com',
          name: 'Ann',
          role: 'admin',
          passwordHash: bcrypt,
          emailVerified: true,
        },
        { email: 'bob@example.com', passwordHash: argon2 },
        { email: 'cy@example.com', name: 'Cy' },
      ),
    );
    const res = await bulwark(['--file', 'users.jsonl']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('imported 3 users\n');
    expect(await storedUsers()).toEqual([
      {
        email: 'ann@example.com',
        name: 'Ann',
        role: 'admin',
        password_hash: bcrypt,
        email_verified: 1,
      },
      {
        email: 'bob@example.com',
        name: 'bob',
        role: 'user',
        password_hash: argon2,
        email_verified: 0,
      },
      { email: 'cy@example.com', name: 'Cy', role: 'user', password_hash: null, email_verified: 0 },
    ]);

    expect((await login('ann@example.com', 'not the password at all')).status).toBe(401);
    expect((await login('ann@example.com', OLD_PASSWORD)).body).toMatchObject({
      user: { email: 'ann@example.com', role: 'admin', emailVerified: true },
    });
    expect((await login('bob@example.com', OLD_PASSWORD)).status).toBe(200);
    // No password: only a reset or an OpenID Connect sign-in opens it.
    expect((await login('cy@example.com', OLD_PASSWORD)).body).toMatchObject({
      code: 'invalid_credentials',
    });
    const after = await storedUsers();
    expect(after[0]!.password_hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(after[1]!.password_hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect((await login('ann@example.com', OLD_PASSWORD)).status).toBe(200);

    const events = await testDb.db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'target_id', 'user_agent', 'details'])
      .where('type', '=', 'user.created')
      .execute();
    expect(events).toHaveLength(3);
    for (const event of events) {
      expect(event).toMatchObject({ actor_id: null, user_agent: 'bulwark-cli' });
      expect(JSON.parse(event.details)).toMatchObject({ via: 'import', selfRegistered: false });
      expect(event.details).not.toContain('$2b$');
    }
  });

  it('imports nothing when a line has a problem, and lists every problem with its line', async () => {
    const input = [
      JSON.stringify({ email: 'ok@example.com' }),
      'not json',
      JSON.stringify({ email: 'x@example.com', role: 'root' }),
      JSON.stringify({ email: 'y@example.com', passwordHash: 'plain-old-md5-8f14e45f' }),
    ].join('\n');
    const res = await bulwark([], input);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      [
        'standard input:2: not a JSON object (one per line)',
        'standard input:3: "role" must be one of admin, user',
        'standard input:4: "passwordHash" is not a hash a login can verify: bcrypt ($2a$, $2b$ or $2y$, cost 4 to 16) or argon2 (PHC string, $argon2id$…)',
        'bulwark user import: nothing imported (3 lines have problems)',
        '',
      ].join('\n'),
    );
    expect(res.stderr).not.toContain('plain-old-md5');
    expect(await storedUsers()).toEqual([]);
  });

  it('refuses addresses that have an account, unless told to skip them; --dry-run writes nothing', async () => {
    const file = jsonl({ email: 'ann@example.com' }, { email: 'bob@example.com' });
    expect((await bulwark([], jsonl({ email: 'ANN@example.com', name: 'First' }))).code).toBe(0);

    const dry = await bulwark(['--dry-run'], jsonl({ email: 'bob@example.com' }));
    expect(dry.stdout).toBe('dry run: every line is valid; would import 1 user\n');
    expect((await storedUsers()).map((u) => u.email)).toEqual(['ann@example.com']);

    const refused = await bulwark([], file);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'standard input:1: ann@example.com has an account already (--skip-existing skips such lines)\nbulwark user import: nothing imported (1 line has a problem)\n',
    );
    expect((await storedUsers()).map((u) => u.email)).toEqual(['ann@example.com']);

    const skipping = await bulwark(['--skip-existing'], file);
    expect(skipping.stderr).toBe('');
    expect(skipping.stdout).toBe('imported 1 user, 1 skipped (already registered)\n');
    // The existing account is untouched.
    expect(await storedUsers()).toMatchObject([
      { email: 'ann@example.com', name: 'First' },
      { email: 'bob@example.com', name: 'bob' },
    ]);
    const again = await bulwark(['--skip-existing'], file);
    expect(again.stdout).toBe('imported 0 users, 2 skipped (already registered)\n');
  });

  it('refuses options of other subcommands, and a file it cannot read, in one line', async () => {
    const email = await bulwark(['--email', 'a@example.com'], '');
    expect(email).toMatchObject({ code: 2 });
    expect(email.stderr).toContain('--email is not an option of user import');
    const missing = await bulwark(['--file', 'nope.jsonl']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('bulwark user: cannot read the import file nope.jsonl: ENOENT\n');
  });
});
