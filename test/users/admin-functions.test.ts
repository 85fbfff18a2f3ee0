import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import {
  expectNoRowLeak,
  expectProblem,
  expectUser,
  meStatus,
  securityEvents,
} from '../helpers/users.js';

/*
 * Broken function-level authorization (OWASP API5): the administrative functions answer 403 to
 * anyone without the permission, and what administrators do to accounts takes effect at once.
 */

let t: TestApp;
let admin: LoggedIn;
beforeAll(async () => {
  t = await buildTestApp();
  admin = await createUserAndLogin(t.app, 'admin');
});
afterAll(async () => {
  await t.app.close();
});

function asAdmin(method: 'GET' | 'PATCH' | 'DELETE' | 'POST', url: string, payload?: unknown) {
  return t.app.inject({
    method,
    url,
    headers: bearer(admin.accessToken),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function refresh(refreshToken: string) {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
}

function loginAttempt(email: string, password = STRONG_PASSWORD) {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
}

function newUserBody(overrides: Record<string, unknown> = {}) {
  return {
    email: uniqueEmail('created'),
    password: STRONG_PASSWORD,
    name: 'Created By Admin',
    role: 'user',
    ...overrides,
  };
}

describe(`administrative functions for a normal user on ${dialectUnderTest}`, () => {
  let user: LoggedIn;
  beforeAll(async () => {
    user = await registerAndLogin(t.app);
  });

  it.each([
    ['GET', '/api/v1/users', undefined, 'users:read'],
    ['GET', '/api/v1/users?role=admin', undefined, 'users:read'],
    ['POST', '/api/v1/users', newUserBody({ role: 'admin' }), 'users:write'],
  ] as const)(
    '%s %s → 403 forbidden and access.denied',
    async (method, url, payload, permission) => {
      const res = await t.app.inject({
        method,
        url,
        headers: bearer(user.accessToken),
        ...(payload === undefined ? {} : { payload }),
      });
      const body = expectProblem(res, 403, 'forbidden');
      expect(res.body).not.toContain(admin.email);
      const events = securityEvents(t.logs, 'access.denied').filter(
        (e) => e.requestId === body.requestId,
      );
      expect(events).toEqual([
        expect.objectContaining({
          outcome: 'denied',
          actorId: user.id,
          details: expect.objectContaining({ permission, status: 403 }) as unknown,
        }),
      ]);
    },
  );

  it('creates nothing when POST /api/v1/users is refused', async () => {
    const body = newUserBody({ role: 'admin' });
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(user.accessToken),
      payload: body,
    });
    expectProblem(await loginAttempt(body.email), 401, 'invalid_credentials');
  });

  it.each([
    ['GET', '/api/v1/users'],
    ['POST', '/api/v1/users'],
  ] as const)('%s %s without a token → 401 authentication_required', async (method, url) => {
    const res = await t.app.inject({
      method,
      url,
      ...(method === 'POST' ? { payload: newUserBody() } : {}),
    });
    expectProblem(res, 401, 'authentication_required');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
  });
});

describe(`POST /api/v1/users on ${dialectUnderTest}`, () => {
  it('creates a user with a role: 201 User, and the user can log in', async () => {
    const input = newUserBody({ role: 'admin', name: '  Second   Admin ' });
    const res = await asAdmin('POST', '/api/v1/users', {
      ...input,
      email: `  ${input.email.toUpperCase()} `,
    });
    expect(res.statusCode, res.body).toBe(201);
    expectNoRowLeak(res.body);
    const user = expectUser(res.json());
    expect(user).toMatchObject({
      email: input.email,
      name: 'Second Admin',
      role: 'admin',
      phone: null,
      emailVerified: false,
      mfaEnabled: false,
    });
    const session = await login(t.app, input.email);
    expect(jwtPayload(session.accessToken).role).toBe('admin');
    const events = securityEvents(t.logs, 'user.created').filter((e) => e.target?.id === user.id);
    expect(events).toEqual([
      expect.objectContaining({
        actorId: admin.id,
        details: { role: 'admin', selfRegistered: false },
      }),
    ]);
    expect(JSON.stringify(events)).not.toContain(STRONG_PASSWORD);
  });

  it.each(['passwordpassword', '12345678', 'aaaaaaaaaaaaaaaa', 'created by admin'])(
    'refuses the weak password %j with 400 weak_password',
    async (password) => {
      const input = newUserBody({ password });
      const problem = expectProblem(
        await asAdmin('POST', '/api/v1/users', input),
        400,
        'weak_password',
      );
      expect((problem.errors as { path: string }[]).length).toBeGreaterThan(0);
      for (const error of problem.errors as { path: string }[])
        expect(error.path).toBe('/body/password');
      // The password is never echoed back (the word "password" is in the field path, hence this).
      const texts = [
        problem.detail,
        ...(problem.errors as { message: string }[]).map((e) => e.message),
      ];
      for (const text of texts) expect(text).not.toContain(password);
      expectProblem(await loginAttempt(input.email, password), 401, 'invalid_credentials');
    },
  );

  it.each([
    ['an unknown role', { role: 'superuser' }, '/body/role'],
    ['a role in capitals', { role: 'Admin' }, '/body/role'],
    ['a missing role', { role: undefined }, '/body/role'],
    ['an extra field', { disabled: false }, '/body/disabled'],
    ['an id', { id: randomUUID() }, '/body/id'],
    ['a bad email', { email: 'not-an-email' }, '/body/email'],
    ['a control character in the name', { name: 'Eve\u202e' }, '/body/name'],
    ['a lone surrogate in the name', { name: 'Eve\udc00' }, '/body/name'],
    ['an invisible character in the name', { name: 'E\u2060ve' }, '/body/name'],
    ['a lone surrogate in the email', { email: 'eve\ud800@example.com' }, '/body/email'],
    ['a soft hyphen in the email', { email: 'e\u00adve@example.com' }, '/body/email'],
  ])('refuses %s with 400 validation_failed', async (_label, overrides, path) => {
    const input = newUserBody(overrides);
    const problem = expectProblem(
      await asAdmin('POST', '/api/v1/users', input),
      400,
      'validation_failed',
    );
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    if (typeof input.email === 'string' && input.email.includes('@'))
      expectProblem(await loginAttempt(input.email), 401, 'invalid_credentials');
  });

  it('refuses a taken email, whatever its case, with 409 email_taken', async () => {
    const existing = await registerAndLogin(t.app);
    for (const email of [existing.email, existing.email.toUpperCase()]) {
      const res = await asAdmin('POST', '/api/v1/users', newUserBody({ email, role: 'admin' }));
      expectProblem(res, 409, 'email_taken');
    }
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(existing.accessToken),
    });
    expect(expectUser(me.json()).role).toBe('user');
  });
});

describe(`an administrator on other accounts on ${dialectUnderTest}`, () => {
  it('reads any user by id, and 404s an unknown one', async () => {
    const user = await registerAndLogin(t.app, { name: 'Readable' });
    const res = await asAdmin('GET', `/api/v1/users/${user.id}`);
    expect(res.statusCode).toBe(200);
    expectNoRowLeak(res.body);
    expect(expectUser(res.json())).toMatchObject({ id: user.id, name: 'Readable', role: 'user' });
    expectProblem(await asAdmin('GET', `/api/v1/users/${randomUUID()}`), 404, 'not_found');
  });

  it('reads, edits and deletes a user by the upper-case spelling of its id', async () => {
    const user = await registerAndLogin(t.app, { name: 'Shouted' });
    const upper = user.id.toUpperCase();
    const read = await asAdmin('GET', `/api/v1/users/${upper}`);
    expect(read.statusCode, read.body).toBe(200);
    expect(expectUser(read.json())).toMatchObject({ id: user.id, name: 'Shouted' });
    const edited = await asAdmin('PATCH', `/api/v1/users/${upper}`, { name: 'Quiet' });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(expectUser(edited.json())).toMatchObject({ id: user.id, name: 'Quiet' });
    // The event names the id as stored, whatever the spelling of the request.
    const updated = securityEvents(t.logs, 'user.updated').filter(
      (e) => e.requestId === edited.headers['x-request-id'],
    );
    expect(updated).toEqual([expect.objectContaining({ target: { type: 'user', id: user.id } })]);
    const deleted = await asAdmin('DELETE', `/api/v1/users/${upper}`);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expectProblem(await asAdmin('GET', `/api/v1/users/${user.id}`), 404, 'not_found');
  });

  it('edits name and phone of any user, and emits user.updated with field names', async () => {
    const user = await registerAndLogin(t.app);
    const res = await asAdmin('PATCH', `/api/v1/users/${user.id}`, {
      name: ' Renamed ',
      phone: '+44 1632 960-961',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(expectUser(res.json())).toMatchObject({ name: 'Renamed', phone: '+441632960961' });
    const events = securityEvents(t.logs, 'user.updated').filter((e) => e.target?.id === user.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorId: admin.id });
    expect([...(events[0]!.details?.fields as string[])].sort()).toEqual(['name', 'phone']);
    // Editing name and phone does not end the user's sessions.
    expect(await meStatus(t.app, user.accessToken)).toBe(200);
  });

  it('still refuses unknown fields from an administrator', async () => {
    const user = await registerAndLogin(t.app);
    for (const payload of [
      { email: 'new@example.com' },
      { password_hash: 'x' },
      { emailVerified: true },
    ]) {
      expectProblem(
        await asAdmin('PATCH', `/api/v1/users/${user.id}`, payload),
        400,
        'validation_failed',
      );
    }
    expectProblem(
      await asAdmin('PATCH', `/api/v1/users/${user.id}`, { role: 'superuser' }),
      400,
      'validation_failed',
    );
    expectProblem(await asAdmin('PATCH', `/api/v1/users/${user.id}`, {}), 400, 'validation_failed');
    expect(await meStatus(t.app, user.accessToken)).toBe(200);
  });

  it('changes a role: user.role_changed, and the user’s tokens stop working', async () => {
    const user = await registerAndLogin(t.app);
    const res = await asAdmin('PATCH', `/api/v1/users/${user.id}`, { role: 'admin' });
    expect(res.statusCode, res.body).toBe(200);
    expect(expectUser(res.json()).role).toBe('admin');
    const events = securityEvents(t.logs, 'user.role_changed').filter(
      (e) => e.target?.id === user.id,
    );
    expect(events).toEqual([
      expect.objectContaining({ actorId: admin.id, details: { from: 'user', to: 'admin' } }),
    ]);
    // The old access token carried role "user": it must not live on next to the new role.
    expect(await meStatus(t.app, user.accessToken)).toBe(401);
    expectProblem(await refresh(user.refreshToken), 401, 'invalid_refresh_token');
    // A fresh login carries the new role and its permissions.
    const again = await login(t.app, user.email);
    expect(jwtPayload(again.accessToken).role).toBe('admin');
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users?limit=1',
      headers: bearer(again.accessToken),
    });
    expect(list.statusCode).toBe(200);
    // ...and demoting works the same way, taking the permission away at once.
    expect((await asAdmin('PATCH', `/api/v1/users/${user.id}`, { role: 'user' })).statusCode).toBe(
      200,
    );
    expect(await meStatus(t.app, again.accessToken)).toBe(401);
  });

  it('setting the same role again changes nothing and ends no session', async () => {
    const user = await registerAndLogin(t.app);
    const res = await asAdmin('PATCH', `/api/v1/users/${user.id}`, { role: 'user' });
    expect(res.statusCode).toBe(200);
    expect(await meStatus(t.app, user.accessToken)).toBe(200);
    expect(securityEvents(t.logs, 'user.role_changed').some((e) => e.target?.id === user.id)).toBe(
      false,
    );
  });

  it('disables a user: tokens stop, login is 403 account_disabled; re-enabling restores login', async () => {
    const user = await registerAndLogin(t.app);
    const res = await asAdmin('PATCH', `/api/v1/users/${user.id}`, { disabled: true });
    expect(res.statusCode, res.body).toBe(200);
    expectUser(res.json());
    expect(securityEvents(t.logs, 'user.disabled').filter((e) => e.target?.id === user.id)).toEqual(
      [expect.objectContaining({ actorId: admin.id, details: { disabled: true } })],
    );

    expect(await meStatus(t.app, user.accessToken)).toBe(401);
    expectProblem(await refresh(user.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await loginAttempt(user.email), 403, 'account_disabled');
    // The wrong password still answers like any wrong password: "disabled" is no oracle.
    expectProblem(
      await loginAttempt(user.email, 'not the password at all 99'),
      401,
      'invalid_credentials',
    );
    // Still visible to an administrator.
    expect((await asAdmin('GET', `/api/v1/users/${user.id}`)).statusCode).toBe(200);

    const enabled = await asAdmin('PATCH', `/api/v1/users/${user.id}`, { disabled: false });
    expect(enabled.statusCode).toBe(200);
    const again = await login(t.app, user.email);
    expect(await meStatus(t.app, again.accessToken)).toBe(200);
    // Re-enabling does not resurrect the sessions that ended.
    expect(await meStatus(t.app, user.accessToken)).toBe(401);
  });

  it('deletes a user: 204, tokens stop, GET 404, user.deleted', async () => {
    const user = await registerAndLogin(t.app);
    const res = await asAdmin('DELETE', `/api/v1/users/${user.id}`);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect(await meStatus(t.app, user.accessToken)).toBe(401);
    expectProblem(await refresh(user.refreshToken), 401, 'invalid_refresh_token');
    expectProblem(await asAdmin('GET', `/api/v1/users/${user.id}`), 404, 'not_found');
    expectProblem(await asAdmin('DELETE', `/api/v1/users/${user.id}`), 404, 'not_found');
    expectProblem(
      await asAdmin('PATCH', `/api/v1/users/${user.id}`, { name: 'Ghost' }),
      404,
      'not_found',
    );
    expectProblem(await loginAttempt(user.email), 401, 'invalid_credentials');
    expect(securityEvents(t.logs, 'user.deleted').filter((e) => e.target?.id === user.id)).toEqual([
      expect.objectContaining({ actorId: admin.id, outcome: 'success' }),
    ]);
    const sessions = await t.testDb.db.kysely
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', user.id)
      .execute();
    expect(sessions).toEqual([]);
  });
});

describe(`the last administrator on ${dialectUnderTest}`, () => {
  // A database of its own, so "the only admin" is really the only one.
  let own: TestApp;
  let first: LoggedIn;
  beforeAll(async () => {
    own = await buildTestApp();
    first = await createUserAndLogin(own.app, 'admin');
  });
  afterAll(async () => {
    await own.app.close();
  });

  function call(caller: LoggedIn, method: 'PATCH' | 'DELETE', id: string, payload?: unknown) {
    return own.app.inject({
      method,
      url: `/api/v1/users/${id}`,
      headers: bearer(caller.accessToken),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  }

  async function roleOf(caller: LoggedIn, id: string): Promise<string> {
    const res = await own.app.inject({
      method: 'GET',
      url: `/api/v1/users/${id}`,
      headers: bearer(caller.accessToken),
    });
    return expectUser(res.json()).role;
  }

  it('cannot delete, disable or demote itself: 409 last_admin, nothing changes', async () => {
    expectProblem(await call(first, 'DELETE', first.id), 409, 'last_admin');
    expectProblem(await call(first, 'PATCH', first.id, { disabled: true }), 409, 'last_admin');
    expectProblem(await call(first, 'PATCH', first.id, { role: 'user' }), 409, 'last_admin');
    expectProblem(
      await call(first, 'PATCH', first.id, { name: 'Renamed', role: 'user' }),
      409,
      'last_admin',
    );
    expect(await meStatus(own.app, first.accessToken)).toBe(200);
    expect(await roleOf(first, first.id)).toBe('admin');
    const me = await own.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(first.accessToken),
    });
    expect(expectUser(me.json()).name).toBe('Test admin');
  });

  it('does not count a disabled administrator as a remaining one', async () => {
    const second = await createUserAndLogin(own.app, 'admin');
    expect((await call(first, 'PATCH', second.id, { disabled: true })).statusCode).toBe(200);
    expectProblem(await call(first, 'PATCH', first.id, { role: 'user' }), 409, 'last_admin');
    expectProblem(await call(first, 'DELETE', first.id), 409, 'last_admin');
    // Clean up: the disabled admin leaves.
    expect((await call(first, 'DELETE', second.id)).statusCode).toBe(204);
  });

  it('with two active administrators, one may demote, disable or delete itself', async () => {
    const second = await createUserAndLogin(own.app, 'admin');
    // Demote itself: allowed, and its own sessions end with the old role.
    expect((await call(first, 'PATCH', first.id, { role: 'user' })).statusCode).toBe(200);
    expect(await meStatus(own.app, first.accessToken)).toBe(401);
    // Now the second one is the last.
    expectProblem(await call(second, 'DELETE', second.id), 409, 'last_admin');
    expectProblem(await call(second, 'PATCH', second.id, { disabled: true }), 409, 'last_admin');
    // Promote the first again; then the second may disable itself...
    expect((await call(second, 'PATCH', first.id, { role: 'admin' })).statusCode).toBe(200);
    expect((await call(second, 'PATCH', second.id, { disabled: true })).statusCode).toBe(200);
    expect(await meStatus(own.app, second.accessToken)).toBe(401);
    // ...and, re-enabled, delete itself.
    first = await login(own.app, first.email);
    expect((await call(first, 'PATCH', second.id, { disabled: false })).statusCode).toBe(200);
    const back = await login(own.app, second.email);
    expect((await call(back, 'DELETE', back.id)).statusCode).toBe(204);
    expectProblem(await call(first, 'DELETE', first.id), 409, 'last_admin');
  });

  it('lets an administrator demote another one while a second remains', async () => {
    const other = await createUserAndLogin(own.app, 'admin');
    expect((await call(first, 'PATCH', other.id, { role: 'user' })).statusCode).toBe(200);
    expect(await roleOf(first, other.id)).toBe('user');
  });
});
