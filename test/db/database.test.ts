import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createDatabase,
  isDatabaseUnavailable,
  migrateToLatest,
  UsersRepository,
  type Db,
} from '../../src/db/index.js';
import { createTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { userRow } from './rows.js';

describe('createDatabase', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it(`opens the dialect under test (${dialectUnderTest}) and answers ping`, async () => {
    expect(t.db.dialect).toBe(dialectUnderTest);
    await expect(t.db.ping()).resolves.toBeUndefined();
  });

  it('can be closed twice', async () => {
    const other = await createDatabase({ url: t.url, sqlitePath: ':memory:' });
    await other.ping();
    await other.close();
    await expect(other.close()).resolves.toBeUndefined();
  });

  it('rejects an unsupported URL scheme without echoing the URL', async () => {
    const attempt = createDatabase({
      url: 'mysql://root:hunter2@127.0.0.1/app',
      sqlitePath: ':memory:',
    });
    await expect(attempt).rejects.toThrow(/Unsupported database URL scheme "mysql:"/);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
    await expect(createDatabase({ url: 'not a url', sqlitePath: ':memory:' })).rejects.toThrow(
      /Unsupported database URL scheme/,
    );
  });

  it('fails, not hangs, when the PostgreSQL server is unreachable', async () => {
    const db = await createDatabase({
      url: 'postgres://postgres@127.0.0.1:1/test',
      sqlitePath: ':memory:',
    });
    try {
      await expect(db.ping()).rejects.toThrow();
    } finally {
      await db.close();
    }
  });
});

describe('SQLite', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-sqlite-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is chosen when the URL is empty', async () => {
    const db = await createDatabase({ url: '', sqlitePath: ':memory:' });
    expect(db.dialect).toBe('sqlite');
    await db.close();
  });

  it('creates a missing parent directory owner-only and the file owner-read/write', async () => {
    const path = join(dir, 'nested', 'deeper', 'bulwark.sqlite');
    const db = await createDatabase({ sqlitePath: path });
    try {
      await db.ping();
      expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700);
      expect((await stat(join(dir, 'nested', 'deeper'))).mode & 0o777).toBe(0o700);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    } finally {
      await db.close();
    }
  });

  it('with mustExist, refuses a missing file and creates neither it nor its directory', async () => {
    const path = join(dir, 'absent', 'bulwark.sqlite');
    await expect(createDatabase({ sqlitePath: path, mustExist: true })).rejects.toThrow();
    await expect(stat(join(dir, 'absent'))).rejects.toMatchObject({ code: 'ENOENT' });
    // An existing file opens as usual.
    const existing = join(dir, 'existing.sqlite');
    await (await createDatabase({ sqlitePath: existing })).close();
    const db = await createDatabase({ sqlitePath: existing, mustExist: true });
    await db.ping();
    await db.close();
  });

  it('sets WAL, foreign keys, busy timeout and NORMAL sync', async () => {
    const db = await createDatabase({ sqlitePath: join(dir, 'pragmas.sqlite') });
    try {
      const pragma = async (query: RawBuilder<Record<string, unknown>>) =>
        Object.values((await query.execute(db.kysely)).rows[0] ?? {})[0];
      expect(await pragma(sql`pragma journal_mode`)).toBe('wal');
      expect(await pragma(sql`pragma foreign_keys`)).toBe(1);
      expect(await pragma(sql`pragma busy_timeout`)).toBe(5000);
      expect(await pragma(sql`pragma synchronous`)).toBe(1); // NORMAL
    } finally {
      await db.close();
    }
  });

  it('works in memory', async () => {
    const db = await createDatabase({ sqlitePath: ':memory:' });
    try {
      await migrateToLatest(db);
      const users = new UsersRepository(db.kysely, db.dialect);
      const row = userRow();
      await users.insert(row);
      expect(await users.findById(row.id)).toEqual(row);
    } finally {
      await db.close();
    }
  });
});

describe.runIf(dialectUnderTest === 'postgres')('PostgreSQL', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('parses bigint as a JS number for this pool only', async () => {
    const { rows } = await sql<{
      n: unknown;
    }>`select ${Number.MAX_SAFE_INTEGER}::bigint as n`.execute(t.db.kysely);
    expect(rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER);
    // pg's process-wide parser is untouched: other pg users still get strings.
    const globalParser = pg.types.getTypeParser(20, 'text') as (value: string) => unknown;
    expect(globalParser('5')).toBe('5');
  });

  it('uses the schema from the URL search_path', async () => {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(
      t.db.kysely,
    );
    expect(t.url).toContain(encodeURIComponent(`search_path=${rows[0]?.schema ?? '?'}`));
    expect(rows[0]?.schema).toMatch(/^bw_[0-9a-f]{16}$/);
  });

  it('caps statements and idle transactions server-side', async () => {
    const statement = await sql<{
      statement_timeout: string;
    }>`show statement_timeout`.execute(t.db.kysely);
    expect(statement.rows[0]?.statement_timeout).toBe('15s');
    const idle = await sql<{
      idle_in_transaction_session_timeout: string;
    }>`show idle_in_transaction_session_timeout`.execute(t.db.kysely);
    expect(idle.rows[0]?.idle_in_transaction_session_timeout).toBe('30s');
  });

  describe('a connection lost while in use (server restart, failover, network cut)', () => {
    let proxy: TcpProxy;
    let db: Db;
    const background: Error[] = [];
    beforeAll(async () => {
      const target = new URL(t.url ?? '');
      proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
      const proxied = new URL(target);
      proxied.host = `127.0.0.1:${proxy.port}`;
      db = await createDatabase({
        url: proxied.href,
        sqlitePath: ':memory:',
        onBackgroundError: (error) => background.push(error),
      });
    });
    afterAll(async () => {
      await db?.close();
      await proxy?.close();
    });

    // Unheard, the client's 'error' event is an uncaught exception: `bulwark serve` logged it as
    // fatal and exited, so a database restart under load stopped every instance.
    it('fails the query in flight and reports the error instead of throwing it', async () => {
      background.length = 0;
      // The pool's one connection, opened now: the query below runs on it, as backend `pid`.
      const { rows: opened } = await sql<{
        pid: number;
      }>`select pg_backend_pid() as pid`.execute(db.kysely);
      const pid = opened[0]!.pid;
      const query = sql`select pg_sleep(5)`.execute(db.kysely);
      // Cut once the server runs it. A fixed 200 ms was a guess that a busy machine could miss
      // (the connection was opened for this query), and a cut before then fails it otherwise.
      await vi.waitFor(
        async () => {
          const { rows } = await sql<{ query: string; state: string }>`
            select query, state from pg_stat_activity where pid = ${pid}`.execute(t.db.kysely);
          expect(rows[0]).toEqual({ query: 'select pg_sleep(5)', state: 'active' });
        },
        { timeout: 4_000, interval: 20 },
      );
      await proxy.cut();
      const error = await query.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isDatabaseUnavailable(error)).toBe(true);
      await vi.waitFor(() => expect(background).toHaveLength(1));
      expect(background[0]?.message).toBe('Connection terminated unexpectedly');

      await proxy.restore();
      await db.ping();
    });

    // A hung server or a partition keeps the connection open and answers nothing: without a
    // client-side deadline the query (and its request) waited until TCP gave up.
    it('fails a statement whose answer never comes, drops its connection, and recovers', async () => {
      const target = new URL(t.url ?? '');
      const frozen = await TcpProxy.start(target.hostname, Number(target.port || 5432));
      const proxied = new URL(target);
      proxied.host = `127.0.0.1:${frozen.port}`;
      const slow = await createDatabase({
        url: proxied.href,
        sqlitePath: ':memory:',
        queryReadTimeoutMs: 500,
        onBackgroundError: () => undefined,
      });
      try {
        await slow.ping();
        frozen.freeze();
        const started = Date.now();
        const error = await sql`select 1`.execute(slow.kysely).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(Date.now() - started).toBeLessThan(3_000);
        expect((error as Error).message).toBe('Query read timeout');
        expect(isDatabaseUnavailable(error)).toBe(true);
        // The next statement is not stuck behind the unanswered one on the same connection.
        await frozen.restore();
        await expect(slow.ping()).resolves.toBeUndefined();
      } finally {
        await slow.close();
        await frozen.close();
      }
    });

    it('fails a transaction cut between its statements, and the pool recovers', async () => {
      background.length = 0;
      const transaction = db.kysely.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await proxy.cut();
        await vi.waitFor(() => expect(background).toHaveLength(1));
        await sql`select 2`.execute(trx);
      });
      const error = await transaction.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isDatabaseUnavailable(error)).toBe(true);
      expect(background[0]?.message).toBe('Connection terminated unexpectedly');

      await proxy.restore();
      await db.ping();
    });
  });
});

describe('prepared statements (SQLite reuses them by SQL text)', () => {
  it('answers repeated queries correctly as rows, parameters and the schema change', async () => {
    const db = await createDatabase({ sqlitePath: ':memory:' });
    try {
      const k = db.kysely.withTables<{ probe: { id: number; name: string; extra?: string } }>();
      await k.schema
        .createTable('probe')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .execute();
      const byId = (id: number) =>
        k.selectFrom('probe').selectAll().where('id', '=', id).executeTakeFirst();
      for (let id = 1; id <= 3; id++) {
        await k
          .insertInto('probe')
          .values({ id, name: `n${id}` })
          .execute();
      }
      expect(await byId(2)).toEqual({ id: 2, name: 'n2' });
      expect(await byId(3)).toEqual({ id: 3, name: 'n3' });
      await k.updateTable('probe').set({ name: 'changed' }).where('id', '=', 2).execute();
      expect(await byId(2)).toEqual({ id: 2, name: 'changed' });
      // A schema change after the statement was prepared: `select *` sees the new column.
      await k.schema.alterTable('probe').addColumn('extra', 'text').execute();
      expect(await byId(2)).toEqual({ id: 2, name: 'changed', extra: null });
      // More distinct statements than the cache holds: every one still answers correctly.
      for (let n = 1; n <= 300; n++) {
        const rows = await k
          .selectFrom('probe')
          .select('id')
          .where(
            'id',
            'in',
            Array.from({ length: n }, (_, i) => i + 1),
          )
          .orderBy('id')
          .execute();
        expect(rows.map((r) => r.id)).toEqual([1, 2, 3].slice(0, Math.min(n, 3)));
      }
    } finally {
      await db.close();
    }
  });
});
