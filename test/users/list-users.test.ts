import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { expectNoRowLeak, expectProblem, expectUser, type UserBody } from '../helpers/users.js';

/*
 * GET /api/v1/users (users:read): keyset pagination in creation order, exact filters, and a
 * strict query string. This file owns its database, so it knows every row in it.
 */

let t: TestApp;
let admin: LoggedIn;
/** Every user in the database, in the order they were created. */
const created: string[] = [];

beforeAll(async () => {
  t = await buildTestApp();
  admin = await createUserAndLogin(t.app, 'admin');
  created.push(admin.id);
  for (let i = 0; i < 7; i++) {
    const user = await registerAndLogin(t.app, { name: `Member ${i}` });
    created.push(user.id);
  }
});
afterAll(async () => {
  await t.app.close();
});

interface Page {
  items: UserBody[];
  nextCursor: string | null;
}

async function list(query: string, token = admin.accessToken) {
  return t.app.inject({ method: 'GET', url: `/api/v1/users${query}`, headers: bearer(token) });
}

async function page(query: string): Promise<Page> {
  const res = await list(query);
  expect(res.statusCode, res.body).toBe(200);
  expectNoRowLeak(res.body);
  const body = res.json<Page>();
  expect(Object.keys(body).sort()).toEqual(['items', 'nextCursor']);
  body.items.forEach(expectUser);
  return body;
}

/** Follows nextCursor from the first page to the last; returns the page sizes and the ids. */
async function walk(limit: number, filter = ''): Promise<{ sizes: number[]; ids: string[] }> {
  const sizes: number[] = [];
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const query: string =
      `?limit=${limit}${filter}` + (cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`);
    const body = await page(query);
    sizes.push(body.items.length);
    ids.push(...body.items.map((user) => user.id));
    if (body.nextCursor === null) return { sizes, ids };
    expect(body.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    cursor = body.nextCursor;
  }
  throw new Error('pagination did not end');
}

/** Creation order as the API defines it: createdAt, then id to break ties within a millisecond. */
function inCreationOrder(users: UserBody[]): boolean {
  return users.every((user, i) => {
    const prev = users[i - 1];
    if (prev === undefined) return true;
    return (
      prev.createdAt < user.createdAt || (prev.createdAt === user.createdAt && prev.id < user.id)
    );
  });
}

describe(`GET /api/v1/users on ${dialectUnderTest}`, () => {
  it('lists every user, oldest first, with the default page size', async () => {
    const body = await page('');
    expect(body.nextCursor).toBeNull();
    expect(body.items.map((u) => u.id).sort()).toEqual([...created].sort());
    expect(inCreationOrder(body.items)).toBe(true);
    expect(body.items.find((u) => u.id === admin.id)?.role).toBe('admin');
  });

  it('pages with limit=3 as 3, 3, 2 with no duplicates or gaps', async () => {
    const all = (await page('?limit=100')).items.map((u) => u.id);
    const { sizes, ids } = await walk(3);
    expect(sizes).toEqual([3, 3, 2]);
    expect(ids).toEqual(all);
    expect(new Set(ids).size).toBe(created.length);
  });

  it('walks every page size to the same sequence', async () => {
    const all = (await page('?limit=100')).items.map((u) => u.id);
    for (const limit of [1, 2, 4, 7, 8, 9]) {
      const { sizes, ids } = await walk(limit);
      expect(ids, `limit=${limit}`).toEqual(all);
      // No trailing empty page: the last page is announced by nextCursor: null.
      expect(sizes.every((size) => size > 0)).toBe(true);
    }
  });

  it('keeps a cursor valid while users are added, and shows new users last', async () => {
    const first = await page('?limit=3');
    const newcomer = await registerAndLogin(t.app);
    created.push(newcomer.id);
    const rest: string[] = [];
    let cursor = first.nextCursor;
    while (cursor !== null) {
      const next = await page(`?limit=3&cursor=${cursor}`);
      rest.push(...next.items.map((u) => u.id));
      cursor = next.nextCursor;
    }
    const ids = [...first.items.map((u) => u.id), ...rest];
    expect(ids).toHaveLength(created.length);
    expect(new Set(ids).size).toBe(created.length);
    expect(ids[ids.length - 1]).toBe(newcomer.id);
    // With nine users, limit=3 ends exactly on a page boundary and still announces the end.
    expect((await walk(3)).sizes).toEqual([3, 3, 3]);
  });

  it('filters by role', async () => {
    const second = await createUserAndLogin(t.app, 'admin');
    created.push(second.id);
    const admins = await page('?role=admin');
    expect(admins.items.map((u) => u.id)).toEqual([admin.id, second.id]);
    expect(admins.items.every((u) => u.role === 'admin')).toBe(true);
    const users = await page('?role=user&limit=100');
    expect(users.items).toHaveLength(created.length - 2);
    expect(users.items.every((u) => u.role === 'user')).toBe(true);
    expect((await page('?role=auditor')).items).toEqual([]);
    const { sizes, ids } = await walk(1, '&role=admin');
    expect(sizes).toEqual([1, 1]);
    expect(ids).toEqual([admin.id, second.id]);
  });

  it('filters by disabled, alone and with the other filters, and pages within the filter', async () => {
    const off: string[] = [];
    for (const name of ['Off 1', 'Off 2']) {
      const user = await registerAndLogin(t.app, { name });
      created.push(user.id);
      off.push(user.id);
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: bearer(admin.accessToken),
        payload: { disabled: true },
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    expect((await page('?disabled=true')).items.map((u) => u.id)).toEqual(off);
    const enabled = (await page('?disabled=false&limit=100')).items.map((u) => u.id);
    expect(enabled).toEqual(created.filter((id) => !off.includes(id)));
    expect((await page('?disabled=true&role=user')).items.map((u) => u.id)).toEqual(off);
    expect((await page('?disabled=true&role=admin')).items).toEqual([]);
    const { sizes, ids } = await walk(1, '&disabled=true');
    expect(sizes).toEqual([1, 1]);
    expect(ids).toEqual(off);
  });

  it('filters by exact email, whatever the case and surrounding spaces of the input', async () => {
    const email = uniqueEmail('Filter');
    const user = await registerAndLogin(t.app, { email });
    created.push(user.id);
    for (const input of [email, email.toUpperCase(), `  ${email}  `]) {
      const body = await page(`?email=${encodeURIComponent(input)}`);
      expect(
        body.items.map((u) => u.id),
        input,
      ).toEqual([user.id]);
      expect(body.items[0]?.email).toBe(email.toLowerCase());
    }
    // Exact match only: no prefix, substring or wildcard search.
    for (const input of [email.slice(0, -1), email.split('@')[0]!, '%@example.com', '___%']) {
      expect((await page(`?email=${encodeURIComponent(input)}`)).items, input).toEqual([]);
    }
  });

  it('decrypts phone numbers in the list', async () => {
    const user = await registerAndLogin(t.app);
    created.push(user.id);
    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: bearer(user.accessToken),
      payload: { phone: '+44 1632 960-961' },
    });
    const body = await page(`?email=${encodeURIComponent(user.email)}`);
    expect(body.items[0]?.phone).toBe('+441632960961');
  });

  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['not base64url', 'abc!def'],
    ['base64url of plain text', Buffer.from('hello').toString('base64url')],
    ['base64url of a JSON object', cursorOf({ createdAt: 1, id: 'x' })],
    ['a string where the time goes', cursorOf(["1' OR '1'='1", 'x'])],
    ['a fractional time', cursorOf([1.5, 'x'])],
    ['an unsafe integer time', cursorOf([2 ** 60, 'x'])],
    ['an over-long id', cursorOf([1, 'x'.repeat(65)])],
    ['a number id', cursorOf([1, 2])],
    // PostgreSQL's text type refuses U+0000 outright: it was a 500 there.
    ['an id holding U+0000', cursorOf([1, 'a\u0000b'])],
    ['too long', 'A'.repeat(201)],
    ['empty', ''],
  ])('rejects a cursor that is %s: 400 at /querystring/cursor', async (_label, cursor) => {
    const res = await list(`?cursor=${encodeURIComponent(cursor)}`);
    const problem = expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual([expect.objectContaining({ path: '/querystring/cursor' })]);
  });

  it('treats a well-formed cursor it did not issue as a position, not as code', async () => {
    const body = await page(`?cursor=${cursorOf([0, ''])}&limit=100`);
    expect(body.items).toHaveLength(created.length);
    expect((await page(`?cursor=${cursorOf([Number.MAX_SAFE_INTEGER, 'z'])}`)).items).toEqual([]);
  });

  it.each([
    ['limit=101', '/querystring/limit'],
    ['limit=1000', '/querystring/limit'],
    ['limit=0', '/querystring/limit'],
    ['limit=-1', '/querystring/limit'],
    ['limit=2.5', '/querystring/limit'],
    ['limit=ten', '/querystring/limit'],
    ['role=ADMIN', '/querystring/role'],
    ['role=admin%27--', '/querystring/role'],
    ['email=' + 'a'.repeat(255), '/querystring/email'],
    ['sort=email', '/querystring/sort'],
    ['include=password_hash', '/querystring/include'],
    ['disabled=1', '/querystring/disabled'],
    ['disabled=yes', '/querystring/disabled'],
    ['disabled=', '/querystring/disabled'],
    ['disabled=true&disabled=false', '/querystring/disabled'],
  ])('rejects ?%s with 400 at %s', async (query, path) => {
    const problem = expectProblem(await list(`?${query}`), 400, 'validation_failed');
    expect(problem.errors).toEqual([expect.objectContaining({ path })]);
  });
});
