import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, runNode, Spawned } from '../helpers/process.js';

// These tests run the built CLI (npm test builds first).
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
  });

  it('prints the version', async () => {
    const res = await runNode([BIN, '--version']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('refuses an unknown command with exit code 2', async () => {
    const res = await runNode([BIN, 'frobnicate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown command "frobnicate"');
  });

  it('refuses an unknown option with the usage and exit code 2', async () => {
    const res = await runNode([BIN, 'serve', '--bogus']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Usage: bulwark serve');
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

  it('refuses a config file that does not exist', async () => {
    const res = await runNode([BIN, '--config', '/nonexistent.json']);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('--config /nonexistent.json cannot be read');
  });
});

describe('bulwark serve', () => {
  it('serves, then shuts down gracefully on SIGTERM: in-flight requests finish, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const server = new Spawned(['test/fixtures/slow-server.mjs'], {
      SLOW_MS: '800',
      BULWARK_DATABASE_SQLITE_PATH: join(dir, 'bulwark.db'),
      BULWARK_KEYS_DEV_KEY_FILE: join(dir, 'master-key.json'),
    });
    spawned.push(server);
    const [, url] = await server.waitFor(/LISTENING (\S+)/);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);

    const inFlight = fetch(`${url}/slow`);
    await new Promise((r) => setTimeout(r, 150));
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));

    // New connections are refused while the old request finishes.
    await expect(
      fetch(`${url}/health/live`, { headers: { connection: 'close' } }),
    ).rejects.toThrow();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ finished: true });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout).toContain('shutdown complete');
  });

  it('logs an unhandled rejection and keeps serving; an uncaught exception stops it gracefully with exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const server = new Spawned(['test/fixtures/slow-server.mjs'], {
      SLOW_MS: '800',
      BULWARK_DATABASE_SQLITE_PATH: join(dir, 'bulwark.db'),
      BULWARK_KEYS_DEV_KEY_FILE: join(dir, 'master-key.json'),
    });
    spawned.push(server);
    const [, url] = await server.waitFor(/LISTENING (\S+)/);

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
    await new Promise((r) => setTimeout(r, 150));
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
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });
});
