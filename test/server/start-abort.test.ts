import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfig } from '../../src/config/index.js';
import { startServer } from '../../src/server.js';
import { TEST_MASTER_KEY, testConfigInput } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { silentRedis } from '../helpers/redis.js';

const dbs: TestDb[] = [];
afterEach(async () => {
  for (const d of dbs.splice(0)) await d.cleanup();
});

describe('startServer with an abort signal (a stop during start-up)', () => {
  it('ends the wait for Redis at once, closes what it opened, and rejects with the reason', async () => {
    // A "Redis" that accepts and never answers: start-up would wait redis.connectTimeoutMs.
    const silent = await silentRedis();
    const testDb = await createTestDb();
    dbs.push(testDb);
    const config = createConfig(
      testConfigInput(testDb, {
        log: { level: 'silent' },
        server: { port: 0 },
        redis: {
          url: silent.url,
          connectTimeoutMs: 60_000,
        },
      }),
    );
    const stop = new AbortController();
    try {
      const starting = startServer(config, { signal: stop.signal });
      await silent.reached;
      const abortedAt = Date.now();
      stop.abort();
      await expect(starting).rejects.toBe(stop.signal.reason);
      expect(Date.now() - abortedAt).toBeLessThan(2_000);
      // Closed by the store (this process stays up): the connections end from the client's side.
      await Promise.all(
        silent.sockets.map((socket) =>
          socket.closed ? Promise.resolve([]) : once(socket, 'close'),
        ),
      );
      expect(silent.sockets.length).toBeGreaterThan(0);
    } finally {
      silent.release();
    }
  });

  it('sees a stop that arrives while its steps run without waiting on anything', async () => {
    // A new SQLite file and a master key from the config: no step before the migrations waits
    // on I/O, so a signal's handler (run by the event loop) gets no turn unless start-up gives
    // it one. Node 22 also loads modules without one, so `bulwark serve` migrated, created its
    // development key and even listened before it noticed a SIGINT sent during start-up.
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-start-abort-'));
    const sqlitePath = join(dir, 'fresh.db');
    const config = createConfig({
      env: 'test',
      log: { level: 'silent' },
      server: { port: 0 },
      database: { sqlitePath },
      keys: { masterKey: TEST_MASTER_KEY },
    });
    const stop = new AbortController();
    // As a signal handler runs: from the event loop, after the synchronous work of this turn.
    setImmediate(() => stop.abort());
    const failure: unknown = await startServer(config, { signal: stop.signal }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBe(stop.signal.reason);
    // Stopped at its first step: no database file, let alone tables.
    expect(existsSync(sqlitePath)).toBe(false);
  });

  it('opens nothing when aborted before it starts', async () => {
    const testDb = await createTestDb();
    dbs.push(testDb);
    const config = createConfig(
      testConfigInput(testDb, { log: { level: 'silent' }, server: { port: 0 } }),
    );
    const reason = new Error('stopped');
    await expect(startServer(config, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
