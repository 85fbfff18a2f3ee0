import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';

interface Page {
  items: {
    id: string;
    seq: number;
    time: string;
    type: string;
    outcome: string;
    actorId: string | null;
    target: { type: string; id: string } | null;
    ip: string | null;
    userAgent: string | null;
    requestId: string | null;
    details: Record<string, unknown>;
    hash: string;
  }[];
  nextCursor: string | null;
}

let t: TestApp;
let admin: LoggedIn;
let user: LoggedIn;

beforeAll(async () => {
  t = await buildTestApp();
  admin = await createUserAndLogin(t.app, 'admin');
  user = await registerAndLogin(t.app);
  for (let i = 0; i < 3; i++) {
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: 'wrong password number x' },
    });
  }
  await t.app.services.auditSink.flush();
});
afterAll(async () => {
  await t?.app.close();
});

async function get(query: string, token = admin.accessToken) {
  return t.app.inject({
    method: 'GET',
    url: `/api/v1/admin/audit-events${query}`,
    headers: bearer(token),
  });
}

describe('GET /api/v1/admin/audit-events', () => {
  it('401 anonymous, 403 for a non-admin', async () => {
    const anon = await t.app.inject({ method: 'GET', url: '/api/v1/admin/audit-events' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toMatchObject({ code: 'authentication_required' });
    const res = await get('', user.accessToken);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'forbidden' });
  });

  it('lists events newest first in the documented shape, never cached', async () => {
    const res = await get('?limit=100');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const page = res.json<Page>();
    const seqs = page.items.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    const failed = page.items.find((e) => e.type === 'login.failed')!;
    expect(failed).toMatchObject({
      outcome: 'failure',
      actorId: null,
      target: { type: 'user', id: user.id },
      ip: '127.0.0.1',
      details: { reason: expect.any(String) as unknown },
    });
    expect(Date.parse(failed.time)).toBeGreaterThan(0);
    expect(failed.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('filters by type, userId, outcome and time', async () => {
    const byType = (await get('?type=login.failed')).json<Page>();
    expect(byType.items).toHaveLength(3);
    const byUser = (await get(`?userId=${user.id}`)).json<Page>();
    expect(byUser.items.length).toBeGreaterThanOrEqual(5); // created, login, 3 failures
    expect(byUser.items.every((e) => e.actorId === user.id || e.target?.id === user.id)).toBe(true);
    const denied = (await get('?outcome=failure')).json<Page>();
    expect(denied.items.every((e) => e.outcome === 'failure')).toBe(true);
    const future = (await get('?since=2999-01-01T00:00:00Z')).json<Page>();
    expect(future.items).toEqual([]);
    const past = (await get('?until=2000-01-01T00:00:00Z')).json<Page>();
    expect(past.items).toEqual([]);
  });

  it('reads every RFC 3339 form the schema accepts: leap seconds and hour-only offsets', async () => {
    await t.app.services.auditSink.flush();
    const all = (await get('?limit=100')).json<Page>().items.map((e) => e.id);
    // Both forms passed the schema but Date.parse gives NaN for them: the bound matched nothing
    // on SQLite and failed with a 500 on PostgreSQL.
    for (const query of [
      '?limit=100&since=2016-12-31T23:59:60Z',
      '?limit=100&until=2999-12-31T23:59:60Z',
      '?limit=100&since=2000-01-01T00:00:00%2B01',
      '?limit=100&since=2000-01-01T00:00:00-0130',
    ]) {
      const res = await get(query);
      expect(res.statusCode, query).toBe(200);
      expect(
        res.json<Page>().items.map((e) => e.id),
        query,
      ).toEqual(all);
    }
    const none = await get('?until=2000-01-01T00:00:00-01');
    expect(none.statusCode).toBe(200);
    expect(none.json<Page>().items).toEqual([]);
    // The offset counts in the right direction: the newest event's own instant, written at +01
    // and at -01, is included by since (inclusive) and excluded by until (exclusive).
    const newest = (await get('?limit=1')).json<Page>().items[0]!;
    const at = Date.parse(newest.time);
    const local = (offsetHours: number): string =>
      new Date(at + offsetHours * 3_600_000).toISOString().slice(0, 23);
    for (const instant of [`${local(1)}%2B01`, `${local(-1)}-01`]) {
      const since = (await get(`?limit=1&since=${instant}`)).json<Page>().items;
      expect(
        since.map((e) => e.id),
        instant,
      ).toEqual([newest.id]);
      const until = (await get(`?limit=100&until=${instant}`)).json<Page>().items;
      expect(
        until.map((e) => e.id),
        instant,
      ).not.toContain(newest.id);
    }
  });

  it('filters by a userId in any case, with the same result (RFC 9562: case-insensitive)', async () => {
    await t.app.services.auditSink.flush();
    const lower = (await get(`?userId=${user.id}`)).json<Page>();
    expect(lower.items.length).toBeGreaterThan(0);
    const upper = (await get(`?userId=${user.id.toUpperCase()}`)).json<Page>();
    expect(upper.items.map((e) => e.id)).toEqual(lower.items.map((e) => e.id));
    // A cursor from one spelling keeps paging the same filter under the other.
    const first = (await get(`?limit=1&userId=${user.id.toUpperCase()}`)).json<Page>();
    expect(first.nextCursor).not.toBeNull();
    const next = (await get(`?limit=1&userId=${user.id}&cursor=${first.nextCursor}`)).json<Page>();
    expect(next.items.map((e) => e.id)).toEqual([lower.items[1]!.id]);
  });

  it('pages with an opaque cursor until the end', async () => {
    // Events of the tests before (the refused reads) are written in the background, batched:
    // let them land before the two walks, which must see the same log.
    await t.app.services.auditSink.flush();
    const all = (await get('?limit=100')).json<Page>().items.map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = (
        await get(`?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
      ).json<Page>();
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    // Reading the log records nothing, so the two walks see the same events.
    expect(seen).toEqual(all);
  });

  it.each([
    ['an unknown parameter', '?password=x'],
    ['an unknown type', '?type=user.hacked'],
    ['a non-uuid userId', '?userId=1%20OR%201=1'],
    ['an unknown outcome', '?outcome=maybe'],
    ['a malformed date', '?since=yesterday'],
    ['a limit above 100', '?limit=101'],
    ['a limit of 0', '?limit=0'],
    ['a forged cursor', '?cursor=LTE'],
    ['an over-long cursor', `?cursor=${'A'.repeat(65)}`],
    ['until before since', '?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z'],
  ])('rejects %s with 400', async (_name, query) => {
    const res = await get(query);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed' });
  });

  it('answers an unknown type with one error that lists the known types', async () => {
    const res = await get('?type=user.hacked');
    expect(res.statusCode).toBe(400);
    const { errors } = res.json<{ errors: { path: string; message: string }[] }>();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe('/querystring/type');
    expect(errors[0]?.message).toMatch(/^must be one of .*\blogin\.failed\b.*\bmfa\.enabled\b/);
  });

  it('serves a row whose details were altered in the database instead of failing the page', async () => {
    await t.app.services.auditSink.flush();
    const before = (await get('?limit=100')).json<Page>().items;
    const [nested, notJson] = before.slice(1, 3);
    const alter = (seq: number, details: string) =>
      t.testDb.db.kysely
        .updateTable('audit_events')
        .set({ details })
        .where('seq', '=', seq)
        .execute();
    await alter(nested!.seq, '{"nested":{"role":"admin"}}');
    await alter(notJson!.seq, `not json ${'x'.repeat(5_000)}`);
    const res = await get('?limit=100');
    // Both used to answer 500 for every page holding the row: the log was unreadable exactly
    // when someone was investigating tampering.
    expect(res.statusCode).toBe(200);
    const items = res.json<Page>().items;
    expect(items.map((e) => e.id)).toEqual(before.map((e) => e.id));
    const bySeq = new Map(items.map((e) => [e.seq, e]));
    expect(bySeq.get(nested!.seq)!.details).toEqual({
      unreadable: true,
      raw: '{"nested":{"role":"admin"}}',
    });
    const raw = bySeq.get(notJson!.seq)!.details.raw as string;
    expect(raw.startsWith('not json xxx')).toBe(true);
    expect(raw).toHaveLength(1_024);
    // Every other row is served as stored.
    expect(items.filter((e) => e.details.unreadable === undefined)).toHaveLength(before.length - 2);
  });

  it('serves a row whose time was altered into no instant with time null, not a 500', async () => {
    await t.app.services.auditSink.flush();
    const before = (await get('?limit=100')).json<Page>().items;
    const victim = before[3]!;
    await t.testDb.db.kysely
      .updateTable('audit_events')
      // Beyond the range of a JavaScript Date (±8.64e15 ms), yet a valid bigint.
      .set({ time: 9_000_000_000_000_000 })
      .where('seq', '=', victim.seq)
      .execute();
    const res = await get('?limit=100');
    expect(res.statusCode).toBe(200);
    const items = res.json<Page>().items;
    expect(items.find((e) => e.seq === victim.seq)?.time).toBeNull();
    expect(items.filter((e) => e.time === null)).toHaveLength(1);
  });

  it('serves admins only after their login is recorded too', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: admin.email, password: STRONG_PASSWORD },
    });
    expect(res.statusCode).toBe(200);
    await t.app.services.auditSink.flush();
    const page = (await get(`?type=login.succeeded&userId=${admin.id}`)).json<Page>();
    expect(page.items.length).toBeGreaterThanOrEqual(2);
  });
});
