import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { totpCode } from '../../src/crypto/index.js';
import { migrateToLatest } from '../../src/db/index.js';
import { LogCapture, TEST_MASTER_KEY, testConfigInput } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { cliDatabaseEnv, runCli, type CliRun } from '../helpers/cli.js';
import { BIN, runNode, type Finished } from '../helpers/process.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// These tests run the CLI against a database of their own: a temporary SQLite file, or a fresh
// PostgreSQL schema when DATABASE_URL is set. Most run its `main` in this process (runCli); the
// few that need a process (a terminal, the launcher, a failure's exit) run the built CLI (npm
// test builds first).

const PASSWORD = 'a long passphrase of yours';
const NO_STACK = /\n\s+at /;
// Some tests start node processes; generous bounds keep a loaded CI machine green.
const SLOW = 60_000;

let testDb: TestDb;
let dir: string;
let app: BulwarkApp | undefined;

beforeEach(async () => {
  testDb = await createTestDb();
  dir = await mkdtemp(join(tmpdir(), 'bulwark-cli-commands-'));
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await testDb.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** The child's environment: this test's database and master key, cheap argon2 parameters. */
function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  // BULWARK_KEYS_MASTER_KEY is the canonical name of keys.masterKey.
  return cliDatabaseEnv(testDb, { BULWARK_KEYS_MASTER_KEY: TEST_MASTER_KEY, ...extra });
}

/** The CLI in this process, with the test's environment and directory. */
function bulwark(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  return runCli(args, {
    env: cliEnv(options.env),
    cwd: dir,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
}

/** The built CLI as a process (bin/bulwark.js), for what only a process shows. */
function bulwarkProcess(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  return runNode([BIN, ...args], {
    env: cliEnv(options.env),
    cwd: dir,
    timeoutMs: 30_000,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
}

/** The service, in-process, on the database and master key the CLI uses (built once a test). */
async function service(): Promise<BulwarkApp> {
  app ??= await buildApp(createConfig(testConfigInput(testDb)), { logger: new LogCapture() });
  return app;
}

async function login(email: string, password: string) {
  const res = await (
    await service()
  ).inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
  });
  return { status: res.statusCode, body: res.json<{ accessToken: string }>() };
}

function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => {
        const colon = line.indexOf(': ');
        return [line.slice(0, colon), line.slice(colon + 2)];
      }),
  );
}

/** Users in this test's database (migrated first: a refused command may have left it empty). */
async function userCount(): Promise<number> {
  await migrateToLatest(testDb.db);
  const rows = await testDb.db.kysely.selectFrom('users').select('id').execute();
  return rows.length;
}

/**
 * Runs the CLI on a real pseudo-terminal (util-linux `script`) and types `typed` at each of the
 * two password prompts, only once each is shown (after the CLI turned echo off), as a person
 * would. Resolves with the exit code and everything the terminal showed.
 */
async function typeOnTerminal(
  args: string[],
  typed: string,
): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args].map((arg) => `'${arg}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: dir,
    env: { ...cliEnv(), TERM: 'dumb' },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const waitFor = async (text: string, from: number): Promise<number> => {
    const deadline = Date.now() + 20_000;
    while (output.indexOf(text, from) < 0) {
      if (Date.now() > deadline) throw new Error(`no "${text}" in: ${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return output.indexOf(text, from) + text.length;
  };
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const afterFirst = await waitFor('Password: ', 0);
  child.stdin.write(`${typed}\r`);
  await waitFor('Repeat password: ', afterFirst);
  child.stdin.write(`${typed}\r`);
  return { code: await exited, output };
}

describe('bulwark migrate', { timeout: SLOW }, () => {
  it('applies the migrations, then reports the database up to date', async () => {
    const first = await bulwark(['migrate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      'applied 0001-identity\napplied 0002-audit-events\napplied 0003-identities\napplied 0004-mfa\napplied 0005-email-tokens\napplied 0006-email-change\napplied 0007-session-identity\napplied 0008-session-generation\napplied 0009-session-signed-in-at\n',
    );
    expect(first.stderr).toBe('');
    // The tables exist in this test's own database (schema, on PostgreSQL).
    expect(await testDb.db.kysely.selectFrom('users').select('id').execute()).toEqual([]);

    const second = await bulwark(['migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('database is up to date\n');
    expect(second.stderr).toBe('');
  });

  // A process: its exit code and everything it printed, a background pool error included.
  it('fails in one line, without the URL or a stack, when PostgreSQL is unreachable', async () => {
    const res = await bulwarkProcess(['migrate'], {
      env: { DATABASE_URL: 'postgres://bulwark:pw-s3cret-9f2@127.0.0.1:1/bulwark' },
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'bulwark migrate: cannot connect to the PostgreSQL database (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:1. Fix: check that PostgreSQL is running and reachable from here, and the host, port, user, password and database name in DATABASE_URL.\n',
    );
    expect(res.stderr).not.toContain('pw-s3cret-9f2');
  });

  it('is what the other commands point to when start-up migration is off', async () => {
    const res = await bulwark(['keys', 'rotate'], {
      env: { BULWARK_DATABASE_MIGRATE_ON_START: 'false' },
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^bulwark keys: .* has no Bulwark tables.*Fix: run `bulwark migrate`/,
    );
    expect(res.stderr).not.toMatch(NO_STACK);
  });
});

describe('bulwark user create', { timeout: SLOW }, () => {
  it('with --password-stdin on a terminal, asks without echo instead of showing what is typed', async () => {
    const typed = 'terminal typed passphrase 42';
    const { code, output } = await typeOnTerminal(
      ['user', 'create', '--email', 'tty@example.com', '--password-stdin'],
      typed,
    );
    expect(code).toBe(0);
    expect(output).toContain('tty@example.com');
    expect(output).not.toContain(typed);
    expect((await login('tty@example.com', typed)).status).toBe(200);
  });

  it('creates a user from --password-stdin, who can then log in', async () => {
    const res = await bulwark(
      ['user', 'create', '--email', ' Admin@Example.COM ', '--role', 'admin', '--password-stdin'],
      { input: `${PASSWORD}\n` },
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const created = fields(res.stdout);
    expect(Object.keys(created)).toEqual(['id', 'email', 'role']);
    expect(created).toMatchObject({ email: 'admin@example.com', role: 'admin' });
    expect(res.stdout).not.toContain(PASSWORD);

    // The trailing newline is not part of the password.
    const { status, body } = await login('admin@example.com', PASSWORD);
    expect(status).toBe(200);
    const me = await app!.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.statusCode).toBe(200);
    // The name defaults to the local part of the email.
    expect(me.json()).toMatchObject({ id: created.id, role: 'admin', name: 'Admin' });
    // Audited as made by an operator on the CLI, not as someone who registered themselves.
    const event = await testDb.db.kysely
      .selectFrom('audit_events')
      .select(['actor_id', 'user_agent', 'details'])
      .where('type', '=', 'user.created')
      .where('target_id', '=', created.id!)
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({ actor_id: null, user_agent: 'bulwark-cli' });
    expect(JSON.parse(event.details)).toEqual({ role: 'admin', selfRegistered: false, via: 'cli' });
  });

  it('reads only the first line of standard input and drops a CRLF ending', async () => {
    const res = await bulwark(
      ['user', 'create', '--email', 'ops@example.com', '--name', 'Ops Team', '--password-stdin'],
      { input: `${PASSWORD}\r\nsecond line ignored\n` },
    );
    expect(res.code).toBe(0);
    // access.defaultRole when --role is absent.
    expect(fields(res.stdout)).toMatchObject({ email: 'ops@example.com', role: 'user' });
    expect((await login('ops@example.com', PASSWORD)).status).toBe(200);
    expect((await login('ops@example.com', `${PASSWORD}\r`)).status).toBe(401);
  });

  it('takes the default role from the --config file', async () => {
    const file = join(dir, 'bulwark.json');
    await writeFile(file, JSON.stringify({ access: { defaultRole: 'admin' } }));
    const res = await bulwark(
      ['user', 'create', '--config', file, '--email', 'root@example.com', '--password-stdin'],
      { input: PASSWORD },
    );
    expect(res.code).toBe(0);
    expect(fields(res.stdout).role).toBe('admin');
  });

  it('refuses a second user with the same email, whatever its case', async () => {
    // The first user is made in-process: creating one with the CLI is proven above.
    const { users } = (await service()).services;
    await users.create(
      { email: 'dup@example.com', name: 'Dup', role: 'user', password: PASSWORD },
      { actorId: null },
    );
    const res = await bulwark(
      ['user', 'create', '--email', 'DUP@example.com', '--password-stdin'],
      { input: PASSWORD },
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('bulwark user: a user with this email already exists\n');
    expect(await userCount()).toBe(1);
  });

  it('refuses a weak password with the policy reasons', async () => {
    const short = await bulwark(
      ['user', 'create', '--email', 'weak@example.com', '--password-stdin'],
      { input: 'short\n' },
    );
    expect(short.code).toBe(1);
    expect(short.stderr).toBe('bulwark user: weak password: must be at least 12 characters\n');

    const guessable = await bulwark(
      ['user', 'create', '--email', 'weak@example.com', '--password-stdin'],
      { input: 'weak@example.com\n' },
    );
    expect(guessable.code).toBe(1);
    expect(guessable.stderr).toMatch(/^bulwark user: weak password: .*email address or name/);
    expect(guessable.stderr).not.toMatch(NO_STACK);
    expect(await userCount()).toBe(0);
  });

  it('refuses an unknown role and names the valid ones', async () => {
    const res = await bulwark(
      ['user', 'create', '--email', 'r@example.com', '--role', 'superuser', '--password-stdin'],
      { input: PASSWORD },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('bulwark user: unknown role "superuser": must be one of admin, user\n');
    expect(await userCount()).toBe(0);
  });

  it('refuses an invalid email', async () => {
    const res = await bulwark(['user', 'create', '--email', 'not-an-email', '--password-stdin'], {
      input: PASSWORD,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('bulwark user: invalid --email: must be a valid email address\n');
  });

  it('refuses empty standard input', async () => {
    const res = await bulwark(['user', 'create', '--email', 'e@example.com', '--password-stdin'], {
      input: '',
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^bulwark user: standard input is empty/);
  });
});

describe('bulwark user mfa-reset', { timeout: SLOW }, () => {
  it('turns MFA off for a user who lost the authenticator, and says when it was not on', async () => {
    const email = 'lost-phone@example.com';
    expect(
      (await bulwark(['user', 'create', '--email', email, '--password-stdin'], { input: PASSWORD }))
        .code,
    ).toBe(0);
    const svc = await service();
    const { body } = await login(email, PASSWORD);
    const auth = { authorization: `Bearer ${body.accessToken}` };
    const setup = await svc.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/totp/setup',
      headers: auth,
      payload: { password: PASSWORD },
    });
    const { secret } = setup.json<{ secret: string }>();
    const confirm = await svc.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/totp/confirm',
      headers: auth,
      payload: { mfaCode: totpCode(secret, Date.now()) },
    });
    expect(confirm.statusCode).toBe(200);
    expect((await login(email, PASSWORD)).status).toBe(401);

    const reset = await bulwark(['user', 'mfa-reset', '--email', ' Lost-Phone@Example.com ']);
    expect(reset.stderr).toBe('');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toBe(`MFA turned off for ${email}\n`);
    expect((await login(email, PASSWORD)).status).toBe(200);
    const [event] = await testDb.db.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('type', '=', 'mfa.disabled')
      .execute();
    expect(event).toMatchObject({ outcome: 'success', actor_id: null, user_agent: 'bulwark-cli' });
    expect(JSON.parse(event!.details)).toEqual({ by: 'admin_reset' });

    const again = await bulwark(['user', 'mfa-reset', '--email', email]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`MFA was not on for ${email}\n`);
  });

  it('exits 1 for an unknown email', async () => {
    const res = await bulwark(['user', 'mfa-reset', '--email', 'nobody@example.com']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('no user with this email');
    expect(res.stderr).not.toMatch(NO_STACK);
  });
});

describe('bulwark user set-password', { timeout: SLOW }, () => {
  const NEW_PASSWORD = 'a brand new passphrase of yours';

  /** A user made in-process (creating one with the CLI is proven above), with two sessions. */
  async function userWithSessions(email: string) {
    const svc = await service();
    await svc.services.users.create(
      { email, name: 'Forgetful', role: 'user', password: PASSWORD },
      { actorId: null },
    );
    const sessions = [];
    for (let i = 0; i < 2; i++) {
      const res = await svc.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email, password: PASSWORD },
      });
      expect(res.statusCode).toBe(200);
      sessions.push(res.json<{ accessToken: string; refreshToken: string }>());
    }
    return sessions;
  }

  it('sets the password from --password-stdin and ends every session of the user', async () => {
    const email = 'forgetful@example.com';
    const sessions = await userWithSessions(email);

    const res = await bulwark(
      ['user', 'set-password', '--email', ' Forgetful@Example.COM ', '--password-stdin'],
      { input: `${NEW_PASSWORD}\n` },
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`password set for ${email}; every session of the user has ended\n`);
    expect(res.stdout).not.toContain(NEW_PASSWORD);

    expect((await login(email, NEW_PASSWORD)).status).toBe(200);
    expect((await login(email, PASSWORD)).status).toBe(401);
    // A server started now knows only the database: the old sessions are over there.
    await app!.close();
    app = undefined;
    const fresh = await service();
    for (const { accessToken, refreshToken } of sessions) {
      const me = await fresh.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(me.statusCode).toBe(401);
      const refresh = await fresh.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        payload: { refreshToken },
      });
      expect(refresh.statusCode).toBe(401);
    }
    // Audited as an operator's reset on the CLI: no actor, and never the password.
    const events = await testDb.db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'user_agent', 'details'])
      .where('type', 'in', ['password.reset', 'session.ended'])
      .where('user_agent', '=', 'bulwark-cli')
      .orderBy('seq')
      .execute();
    expect(events.map((e) => [e.type, e.actor_id, JSON.parse(e.details) as unknown])).toEqual([
      ['password.reset', null, { via: 'cli' }],
      ['session.ended', null, { reason: 'password_reset', sessions: 2 }],
    ]);
    expect(JSON.stringify(events)).not.toContain(NEW_PASSWORD);
  });

  // docs/security.md "A reset ends a lock-out": `bulwark user set-password` starts the account's
  // failed-password counts afresh when the service uses the Redis store, which the CLI reaches.
  it.runIf(redisUrl !== undefined)(
    "starts the account's failed-login counts afresh in the service's Redis",
    async () => {
      const prefix = uniquePrefix();
      const redis = { url: redisUrl!, keyPrefix: prefix };
      app = await buildApp(
        createConfig(
          testConfigInput(testDb, {
            redis,
            rateLimit: { login: { accountFreeFailures: 2, accountMaxDelaySeconds: 600 } },
          }),
        ),
        { logger: new LogCapture() },
      );
      const email = 'locked-out@example.com';
      await app.services.users.create(
        { email, name: 'Locked Out', role: 'user', password: PASSWORD },
        { actorId: null },
      );
      const attempt = (password: string, n: number) =>
        app!.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: `203.0.113.${n}`,
          payload: { email, password },
        });
      // Two free failures, then each attempt doubles the delay; once the first (1 s) delay is
      // over, the next attempt arms a delay of minutes.
      for (let n = 1; n <= 10; n++) await attempt('not the password at all', n);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await attempt('not the password at all', 11);
      expect((await attempt(PASSWORD, 12)).statusCode).toBe(429);

      const res = await bulwark(['user', 'set-password', '--email', email, '--password-stdin'], {
        input: `${NEW_PASSWORD}\n`,
        env: { REDIS_URL: redisUrl!, BULWARK_REDIS_KEY_PREFIX: prefix },
      });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect((await attempt(NEW_PASSWORD, 13)).statusCode).toBe(200);
      await deletePrefix(redisUrl!, prefix);
    },
  );

  it('asks twice on the terminal without echo, as user create does', async () => {
    const email = 'tty-reset@example.com';
    await userWithSessions(email);
    const typed = 'terminal typed new passphrase 43';
    const { code, output } = await typeOnTerminal(
      ['user', 'set-password', '--email', email],
      typed,
    );
    expect(code).toBe(0);
    expect(output).toContain(`password set for ${email}`);
    expect(output).not.toContain(typed);
    expect((await login(email, typed)).status).toBe(200);
  });

  it('exits 1 for an unknown email', async () => {
    const res = await bulwark(
      ['user', 'set-password', '--email', 'nobody@example.com', '--password-stdin'],
      { input: `${NEW_PASSWORD}\n` },
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^bulwark user: no user with this email in .+\. Fix: .+\n$/);
  });

  it('refuses a weak password with the policy reasons, and changes nothing', async () => {
    const email = 'weakling@example.com';
    const [session] = await userWithSessions(email);

    const short = await bulwark(['user', 'set-password', '--email', email, '--password-stdin'], {
      input: 'short\n',
    });
    expect(short.code).toBe(1);
    expect(short.stdout).toBe('');
    expect(short.stderr).toBe('bulwark user: weak password: must be at least 12 characters\n');

    const guessable = await bulwark(
      ['user', 'set-password', '--email', email, '--password-stdin'],
      { input: `${email}\n` },
    );
    expect(guessable.code).toBe(1);
    expect(guessable.stderr).toMatch(/^bulwark user: weak password: .*email address or name/);
    expect(guessable.stderr).not.toMatch(NO_STACK);

    expect((await login(email, PASSWORD)).status).toBe(200);
    const refresh = await app!.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: session!.refreshToken },
    });
    expect(refresh.statusCode).toBe(200);
    const resets = await testDb.db.kysely
      .selectFrom('audit_events')
      .select('id')
      .where('type', '=', 'password.reset')
      .execute();
    expect(resets).toEqual([]);
  });
});

describe('bulwark keys rotate', { timeout: SLOW }, () => {
  it('publishes the next key, which signs 10 minutes later; the JWKS serves both at once', async () => {
    const before = Date.now();
    const res = await bulwark(['keys', 'rotate']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines).toHaveLength(4); // three lines and the final newline: nothing else
    const { 'new kid': kid, 'retired kid': retired, 'signs from': from } = fields(res.stdout);
    expect(kid).toMatch(/^[0-9a-f-]{36}$/);
    expect(retired).toMatch(/^[0-9a-f-]{36}$/);
    expect(kid).not.toBe(retired);
    const [at, note] = from!.split(' (');
    // No Redis here: running instances find the key at their next re-read.
    expect(note).toBe('in the JWKS of running instances within a minute)');
    const signsFrom = Date.parse(at!);
    expect(signsFrom).toBeGreaterThanOrEqual(before + 600_000);
    expect(signsFrom).toBeLessThan(Date.now() + 600_000);

    const server = await service();
    const jwks = await server.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const kids = jwks.json<{ keys: { kid: string }[] }>().keys.map((k) => k.kid);
    expect(kids.sort()).toEqual([kid, retired].sort());
    // New tokens are signed with the current key until the new one's time.
    expect(server.services.signingKeys.signingKey().kid).toBe(retired);
  });

  it('sends keys.rotated to the webhook before the command returns', async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const res = await bulwark(['keys', 'rotate'], {
        env: {
          BULWARK_AUDIT_WEBHOOK_URL: receiver.url,
          BULWARK_AUDIT_WEBHOOK_SECRET: 'keys-cli-webhook-secret-0123456789ab',
        },
      });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const { 'new kid': kid } = fields(res.stdout);
      // keys.rotated is one of the webhook's default events.
      expect(receiver.received.map((r) => JSON.parse(r.body) as unknown)).toEqual([
        {
          event: expect.objectContaining({
            type: 'keys.rotated',
            outcome: 'success',
            target: { type: 'signing_key', id: kid },
          }) as unknown,
        },
      ]);
    } finally {
      await receiver.stop();
    }
  });

  it('--now: the new key signs at once', async () => {
    const first = await bulwark(['keys', 'rotate', '--now']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const { 'new kid': kid, 'signs from': from } = fields(first.stdout);
    // No Redis here: the key signs now, but a running instance switches at its next re-read.
    expect(from).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z \(now; running instances switch to it within a minute\)$/,
    );
    const server = await service();
    expect(server.services.signingKeys.signingKey().kid).toBe(kid);

    const again = await bulwark(['keys', '--now', 'rotate']);
    expect(fields(again.stdout)['retired kid']).toBe(kid);
  });

  it('--revoke-old: every key but the new one stops verifying at once', async () => {
    const server = await service();
    const user = await server.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: 'leak@example.com', password: PASSWORD, name: 'Leak' },
    });
    expect(user.statusCode, user.body).toBe(201);
    const { body } = await login('leak@example.com', PASSWORD);
    const res = await bulwark(['keys', 'rotate', '--revoke-old']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = fields(res.stdout);
    expect(out['signs from']).toMatch(/ \(now; running instances switch to it within a minute\)$/);
    expect(out['revoked kids']).toBe(out['retired kid']);
    // Without Redis, the operator of a leaked key is told the running service still accepts the
    // old tokens for up to a minute, and how to end that at once.
    expect(res.stdout).toContain(
      '\nRunning instances refuse the revoked keys within a minute (no Redis announces the ' +
        'rotation to them); send them SIGHUP to refuse their tokens at once.\n',
    );
    // The service's own re-read (its timer's, within a minute; at once with Redis): a token of
    // the old key is refused, and only the new key is published.
    await server.services.signingKeys.reload();
    const me = await server.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.statusCode).toBe(401);
    const jwks = await server.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwks.json<{ keys: { kid: string }[] }>().keys.map((k) => k.kid)).toEqual([
      out['new kid'],
    ]);
  });

  it('fails with a clear message and no key bytes under another master key', async () => {
    // The service's first start stores a signing key, encrypted under the test master key.
    await service();
    const before = await testDb.db.kysely.selectFrom('signing_keys').selectAll().execute();

    const otherKey = randomBytes(32).toString('base64');
    const res = await bulwark(['keys', 'rotate'], { env: { BULWARK_KEYS_MASTER_KEY: otherKey } });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(
      /^bulwark keys: cannot decrypt the signing keys stored in the database with the master key from .*: authentication failed\. Fix: use the master key this database was set up with\.\n$/,
    );
    for (const secret of [otherKey, TEST_MASTER_KEY, ...before.map((k) => k.private_key_enc)])
      expect(res.stderr).not.toContain(secret);
    expect(res.stderr).not.toMatch(/"d"|BEGIN|PRIVATE/);

    // Nothing was rotated.
    const after = await testDb.db.kysely.selectFrom('signing_keys').selectAll().execute();
    expect(after).toEqual(before);
  });

  // A process: the launcher turns main's 78 into the exit status.
  it('refuses a master key that is not 32 bytes as a config error', async () => {
    const res = await bulwarkProcess(['keys', 'rotate'], {
      env: { BULWARK_KEYS_MASTER_KEY: randomBytes(16).toString('base64') },
    });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('must decode to exactly 32 bytes');
  });
});

describe('commands run in this process', { timeout: SLOW }, () => {
  /** What keeps this process's event loop alive (sockets, timers, worker threads …), counted. */
  function openResources(): Record<string, number> {
    const counts: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
    return counts;
  }

  /** This process's open file descriptors on the SQLite file (and its -wal, -shm); Linux only. */
  function sqliteDescriptors(): number {
    if (testDb.url !== undefined || !existsSync('/proc/self/fd')) return 0;
    let count = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(testDb.sqlitePath)) count += 1;
      } catch {
        // Closed between the listing and the look (the listing's own descriptor, at least).
      }
    }
    return count;
  }

  // The tests share their worker with other files: a pool, Redis client, worker thread or timer
  // left open by a run would keep it alive, and pile up over the runs.
  it('leave nothing open: database pool, Redis, worker threads, timers', async () => {
    // Redis too when there is one (its own key prefix): the services then open a client for it.
    const redis: Record<string, string> =
      redisUrl === undefined
        ? {}
        : { REDIS_URL: redisUrl, BULWARK_REDIS_KEY_PREFIX: uniquePrefix() };
    const before = openResources();
    // SQLite keeps no handle in the event loop: an unclosed database shows as open descriptors.
    const descriptors = sqliteDescriptors();
    const runs = [
      await bulwark(['migrate'], { env: redis }),
      await bulwark(['user', 'create', '--email', 'leak@example.com', '--password-stdin'], {
        input: PASSWORD,
        env: redis,
      }),
      await bulwark(['keys', 'rotate'], { env: redis }),
      // Failures inside the services, and before anything is opened.
      await bulwark(['user', 'mfa-reset', '--email', 'nobody@example.com'], { env: redis }),
      await bulwark(['keys', 'rotate'], { env: { ...redis, BULWARK_KEYS_MASTER_KEY: 'short' } }),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 1, 78]);
    // With Redis, running instances are told of the rotation and serve the key at once.
    if (redisUrl !== undefined) expect(runs[2]!.stdout).toContain('(in the JWKS now)');
    // Nothing more of any kind than before (the test's own setup may have finished some since).
    // A connection its client has ended (pg, Redis) closes a moment later, when the server's
    // side of the close arrives: waited for, but a handle still open after 10 s is a leak.
    const added = (): Record<string, number> => {
      const after = openResources();
      const kinds = Object.keys(after).filter((kind) => after[kind]! > (before[kind] ?? 0));
      return Object.fromEntries(kinds.map((kind) => [kind, after[kind]!]));
    };
    for (let waited = 0; Object.keys(added()).length > 0 && waited < 10_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(added()).toEqual({});
    expect(sqliteDescriptors()).toBe(descriptors);
  });

  it('never touch the process: its environment, directory and streams', async () => {
    const env = { ...process.env };
    const cwd = process.cwd();
    // Spies that pass every write through: the runs must make none of them.
    const out = vi.spyOn(process.stdout, 'write');
    const err = vi.spyOn(process.stderr, 'write');
    try {
      // A relative --config is read from the run's directory, not the process's.
      await writeFile(
        join(dir, 'bulwark.json'),
        JSON.stringify({ access: { defaultRole: 'admin' } }),
      );
      const created = await bulwark(
        [
          'user',
          'create',
          '--config',
          'bulwark.json',
          '--email',
          'cwd@example.com',
          '--password-stdin',
        ],
        { input: PASSWORD },
      );
      expect(created.code, created.stderr).toBe(0);
      expect(fields(created.stdout).role).toBe('admin');
      const missing = await bulwark(['migrate', '--config', 'nowhere.json']);
      expect(missing.code).toBe(78);
      expect(missing.stderr).toContain('--config nowhere.json cannot be read (ENOENT)');
      expect(out).not.toHaveBeenCalled();
      expect(err).not.toHaveBeenCalled();
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(process.env).toEqual(env);
    expect(process.cwd()).toBe(cwd);
    expect(cwd).not.toBe(dir);
  });
});
