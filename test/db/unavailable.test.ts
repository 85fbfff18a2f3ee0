import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  isDatabaseUnavailable,
  UsersRepository,
  type Db,
} from '../../src/db/index.js';
import { sql } from '../../src/db/kysely.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { freePort } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { userRow } from './rows.js';

/*
 * A database that cannot be reached is the client's "try again shortly" (503), not a bug (500):
 * the errors here are the drivers' real ones, not hand-made look-alikes.
 */

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the query to fail');
    },
    (error: unknown) => error,
  );
}

describe('isDatabaseUnavailable', () => {
  it('is true for a PostgreSQL server nobody listens for (connection refused)', async () => {
    const db = await createDatabase({
      url: `postgres://postgres@127.0.0.1:${await freePort()}/nothing`,
      sqlitePath: ':memory:',
    });
    try {
      const error = await failure(db.ping());
      expect(isDatabaseUnavailable(error)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('is true for an SQLite file another process keeps locked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-busy-'));
    const path = join(dir, 'busy.sqlite');
    const holder = new SqliteDatabase(path);
    const waiter = new SqliteDatabase(path, { timeout: 0 });
    try {
      holder.exec('create table t (x integer); begin immediate; insert into t values (1)');
      let error: unknown;
      try {
        waiter.exec('insert into t values (2)');
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isDatabaseUnavailable(error)).toBe(true);
    } finally {
      holder.close();
      waiter.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is false for anything that is not about reaching the database', () => {
    for (const error of [
      new Error('boom'),
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      Object.assign(new Error('syntax error'), { code: '42601' }),
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      Object.assign(new Error('constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }),
      'ECONNREFUSED',
      null,
      undefined,
    ]) {
      expect(isDatabaseUnavailable(error), String(error)).toBe(false);
    }
  });
});

describe(`isDatabaseUnavailable on ${dialectUnderTest}`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createMigratedTestDb();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('is false for the errors of a working database', async () => {
    const users = new UsersRepository(t.db.kysely, t.db.dialect);
    const first = await users.insert(userRow());
    expect(
      isDatabaseUnavailable(await failure(users.insert(userRow({ email: first.email })))),
    ).toBe(false);
    expect(isDatabaseUnavailable(await failure(sql`selec 1`.execute(t.db.kysely)))).toBe(false);
  });

  it.skipIf(dialectUnderTest !== 'postgres')(
    'is true when the connection to PostgreSQL is cut, and through a cause chain',
    async () => {
      const target = new URL(t.url ?? '');
      const proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
      const proxied = new URL(target);
      proxied.host = `127.0.0.1:${proxy.port}`;
      let db: Db | undefined;
      try {
        const background: Error[] = [];
        db = await createDatabase({
          url: proxied.href,
          sqlitePath: ':memory:',
          onBackgroundError: (error) => background.push(error),
        });
        await db.ping();
        await proxy.cut();
        const error = await failure(db.ping());
        expect(isDatabaseUnavailable(error)).toBe(true);
        expect(isDatabaseUnavailable(new Error('wrapped', { cause: error }))).toBe(true);
      } finally {
        await db?.close();
        await proxy.close();
      }
    },
  );
});
