import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import { bearer, registerAndLogin, type LoggedIn } from '../helpers/identity.js';
import {
  expectNoRowLeak,
  expectProblem,
  expectUser,
  meStatus,
  securityEvents,
  type UserBody,
} from '../helpers/users.js';

/*
 * Broken object-level authorization (OWASP API1): a user reaches only its own account through
 * /api/v1/users/:id. Someone else's id answers exactly like an id that does not exist, so ids
 * cannot be probed.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

type Method = 'GET' | 'PATCH' | 'DELETE';

function request(method: Method, id: string, token: string, payload?: unknown) {
  return t.app.inject({
    method,
    url: `/api/v1/users/${id}`,
    headers: bearer(token),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function stored(caller: LoggedIn): Promise<UserBody> {
  const res = await request('GET', caller.id, caller.accessToken);
  expect(res.statusCode, res.body).toBe(200);
  return expectUser(res.json());
}

/** The problem body without the members that differ per request. */
function comparable(body: string): Record<string, unknown> {
  const { requestId: _requestId, ...rest } = JSON.parse(body) as Record<string, unknown>;
  return rest;
}

const attempts: [Method, unknown][] = [
  ['GET', undefined],
  ['PATCH', { name: 'Hijacked' }],
  ['PATCH', { phone: '+441632960961' }],
  ['DELETE', undefined],
];

describe(`another user's account on ${dialectUnderTest}`, () => {
  let alice: LoggedIn;
  let bob: LoggedIn;
  beforeAll(async () => {
    alice = await registerAndLogin(t.app, { name: 'Alice' });
    bob = await registerAndLogin(t.app, { name: 'Bob' });
  });

  it.each(attempts)(
    '%s %j on B answers 404 not_found, identical to an unknown id',
    async (method, payload) => {
      const before = await stored(bob);
      const res = await request(method, bob.id, alice.accessToken, payload);
      const body = expectProblem(res, 404, 'not_found');
      expectNoRowLeak(res.body);
      expect(res.body).not.toContain(bob.email);
      expect(res.body).not.toContain('Bob');

      const unknown = await request(method, randomUUID(), alice.accessToken, payload);
      expectProblem(unknown, 404, 'not_found');
      expect(comparable(unknown.body)).toEqual(comparable(res.body));
      expect(Object.keys(unknown.headers).sort()).toEqual(Object.keys(res.headers).sort());

      // Nothing changed, and B's session still works.
      expect(await stored(bob)).toEqual(before);
      expect(await meStatus(t.app, bob.accessToken)).toBe(200);

      const denied = securityEvents(t.logs, 'access.denied').filter(
        (event) => event.requestId === body.requestId,
      );
      expect(denied).toEqual([
        expect.objectContaining({
          outcome: 'denied',
          actorId: alice.id,
          target: { type: 'user', id: bob.id },
        }),
      ]);
    },
  );

  it('answers B’s privileged fields with 404 too, not 403 (no existence oracle)', async () => {
    for (const payload of [{ role: 'admin' }, { disabled: true }]) {
      const res = await request('PATCH', bob.id, alice.accessToken, payload);
      expectProblem(res, 404, 'not_found');
      const unknown = await request('PATCH', randomUUID(), alice.accessToken, payload);
      expect(comparable(unknown.body)).toEqual(comparable(res.body));
    }
    expect((await stored(bob)).role).toBe('user');
  });

  it.each([
    ['a non-uuid', 'not-a-uuid'],
    ['a number', '1'],
    ['a SQL string', "' OR '1'='1"],
    ['a path traversal', '..%2F..%2Fadmin'],
    ['"me" with a suffix', 'me2'],
  ])('answers %s id with 400 validation_failed at /params/id', async (_label, id) => {
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const res = await t.app.inject({
        method,
        url: `/api/v1/users/${id}`,
        headers: bearer(alice.accessToken),
        ...(method === 'PATCH' ? { payload: { name: 'x' } } : {}),
      });
      const problem = expectProblem(res, 400, 'validation_failed');
      expect(problem.errors).toEqual([expect.objectContaining({ path: '/params/id' })]);
    }
  });

  it('answers an upper-case spelling of B’s id like any other id of B', async () => {
    const res = await request('GET', bob.id.toUpperCase(), alice.accessToken);
    const body = expectProblem(res, 404, 'not_found');
    expect(res.body).not.toContain(bob.email);
    // The event names B's id in its one canonical spelling, as for the lower-case request.
    const denied = securityEvents(t.logs, 'access.denied').filter(
      (event) => event.requestId === body.requestId,
    );
    expect(denied).toEqual([
      expect.objectContaining({ actorId: alice.id, target: { type: 'user', id: bob.id } }),
    ]);
  });
});

describe(`one's own account by id on ${dialectUnderTest}`, () => {
  it('GET self by id is the same User as /me', async () => {
    const caller = await registerAndLogin(t.app);
    const byId = await request('GET', caller.id, caller.accessToken);
    expect(byId.statusCode).toBe(200);
    expectNoRowLeak(byId.body);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(caller.accessToken),
    });
    expect(expectUser(byId.json())).toEqual(me.json());
  });

  it('reaches itself by an upper-case or urn:uuid: spelling of its id (RFC 9562: case-insensitive)', async () => {
    const caller = await registerAndLogin(t.app, { name: 'Casey' });
    for (const id of [caller.id.toUpperCase(), `urn:uuid:${caller.id}`, `URN:UUID:${caller.id}`]) {
      const res = await request('GET', id, caller.accessToken);
      expect(res.statusCode, res.body).toBe(200);
      expect(expectUser(res.json()).id).toBe(caller.id);
      // No false access.denied against the caller itself.
      const denied = securityEvents(t.logs, 'access.denied').filter(
        (event) => event.requestId === res.headers['x-request-id'],
      );
      expect(denied).toEqual([]);
    }
    const patched = await request('PATCH', caller.id.toUpperCase(), caller.accessToken, {
      name: 'Casey Upper',
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect((await stored(caller)).name).toBe('Casey Upper');
    const deleted = await request('DELETE', caller.id.toUpperCase(), caller.accessToken);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await meStatus(t.app, caller.accessToken)).toBe(401);
  });

  it('PATCH self by id changes name and phone', async () => {
    const caller = await registerAndLogin(t.app);
    const res = await request('PATCH', caller.id, caller.accessToken, {
      name: '  Self  Edited ',
      phone: '+44 1632 960-961',
    });
    expect(res.statusCode, res.body).toBe(200);
    expectNoRowLeak(res.body);
    expect(expectUser(res.json())).toMatchObject({
      id: caller.id,
      name: 'Self Edited',
      phone: '+441632960961',
      role: 'user',
    });
  });

  it.each([
    ['role', { role: 'admin' }],
    ['disabled', { disabled: true }],
    ['disabled: false', { disabled: false }],
    ['role next to name', { name: 'Sneaky', role: 'admin' }],
    ['its own role (a no-op is still not allowed)', { role: 'user' }],
  ])('PATCH self by id with %s → 403 forbidden, nothing changes', async (_label, payload) => {
    const caller = await registerAndLogin(t.app, { name: 'Plain' });
    const before = await stored(caller);
    const res = await request('PATCH', caller.id, caller.accessToken, payload);
    const body = expectProblem(res, 403, 'forbidden');
    expect(await stored(caller)).toEqual(before);
    expect(await meStatus(t.app, caller.accessToken)).toBe(200);
    const denied = securityEvents(t.logs, 'access.denied').filter(
      (event) => event.requestId === body.requestId,
    );
    expect(denied).toEqual([
      expect.objectContaining({ actorId: caller.id, target: { type: 'user', id: caller.id } }),
    ]);
    expect(
      securityEvents(t.logs, 'user.role_changed').some((e) => e.target?.id === caller.id),
    ).toBe(false);
  });

  it('PATCH self by id with an unknown field → 400, as on /me', async () => {
    const caller = await registerAndLogin(t.app);
    const res = await request('PATCH', caller.id, caller.accessToken, { email: 'x@example.com' });
    const problem = expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual([{ path: '/body/email', message: 'is not allowed' }]);
  });

  it('DELETE self by id → 204; the token then fails and login is refused', async () => {
    const caller = await registerAndLogin(t.app);
    const second = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: caller.email, password: caller.password },
    });
    expect(second.statusCode).toBe(200);
    const otherSession = second.json<{ accessToken: string; refreshToken: string }>();

    const res = await request('DELETE', caller.id, caller.accessToken);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    for (const token of [caller.accessToken, otherSession.accessToken]) {
      const after = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: bearer(token),
      });
      expect(after.statusCode).toBe(401);
    }
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: otherSession.refreshToken },
    });
    expectProblem(refreshed, 401, 'invalid_refresh_token');
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: caller.email, password: caller.password },
    });
    expectProblem(login, 401, 'invalid_credentials');

    const deleted = securityEvents(t.logs, 'user.deleted').filter(
      (e) => e.target?.id === caller.id,
    );
    expect(deleted).toEqual([expect.objectContaining({ actorId: caller.id, outcome: 'success' })]);
    const rows = await t.testDb.db.kysely
      .selectFrom('users')
      .select('id')
      .where('id', '=', caller.id)
      .execute();
    expect(rows).toEqual([]);
  });

  it('the email of a deleted account can be registered again, as a new user', async () => {
    const caller = await registerAndLogin(t.app);
    expect((await request('DELETE', caller.id, caller.accessToken)).statusCode).toBe(204);
    const again = await registerAndLogin(t.app, { email: caller.email });
    expect(again.id).not.toBe(caller.id);
    expect(await meStatus(t.app, caller.accessToken)).toBe(401);
  });
});
