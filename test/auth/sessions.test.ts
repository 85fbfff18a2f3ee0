import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  jwtPayload,
  registerAndLogin,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import {
  captureEvents,
  expectAccessRefused,
  expectAccessWorks,
  expectProblem,
  expectRefreshRefused,
  postLogin,
  refreshOk,
} from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

interface SessionItem {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

/** Logs in with a user agent; returns the pair and the session id. */
async function loginAs(email: string, userAgent: string): Promise<LoggedIn> {
  const res = await postLogin(t.app, email, STRONG_PASSWORD, { 'user-agent': userAgent });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json<{ accessToken: string; refreshToken: string; user: { id: string } }>();
  return {
    id: body.user.id,
    email,
    password: STRONG_PASSWORD,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    sessionId: jwtPayload(body.accessToken).sid as string,
  };
}

async function listSessions(accessToken: string): Promise<SessionItem[]> {
  const res = await t.app.inject({
    method: 'GET',
    url: '/api/v1/auth/sessions',
    headers: bearer(accessToken),
  });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  const body = res.json<{ items: SessionItem[] }>();
  expect(Object.keys(body)).toEqual(['items']);
  return body.items;
}

function endSession(accessToken: string | undefined, id: string) {
  return t.app.inject({
    method: 'DELETE',
    url: `/api/v1/auth/sessions/${id}`,
    headers: accessToken === undefined ? {} : bearer(accessToken),
  });
}

describe('GET /api/v1/auth/sessions', () => {
  it("lists the caller's active sessions, marking the current one", async () => {
    const user = await registerAndLogin(t.app);
    const laptop = await loginAs(user.email, 'Mozilla/5.0 (laptop)');
    const phone = await loginAs(user.email, 'Bulwark-iOS/2.1');
    const someoneElse = await registerAndLogin(t.app);

    const items = await listSessions(laptop.accessToken);
    expect(items.map((s) => s.id).sort()).toEqual(
      [user.sessionId, laptop.sessionId, phone.sessionId].sort(),
    );
    expect(items.map((s) => s.id)).not.toContain(someoneElse.sessionId);
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual([
        'createdAt',
        'current',
        'id',
        'ip',
        'lastUsedAt',
        'userAgent',
      ]);
      expect(new Date(item.createdAt).toISOString()).toBe(item.createdAt);
      expect(new Date(item.lastUsedAt).toISOString()).toBe(item.lastUsedAt);
      expect(item.ip).toBe('127.0.0.1');
      expect(item.current).toBe(item.id === laptop.sessionId);
    }
    expect(items.filter((s) => s.current)).toHaveLength(1);
    expect(items.find((s) => s.id === laptop.sessionId)?.userAgent).toBe('Mozilla/5.0 (laptop)');
    expect(items.find((s) => s.id === phone.sessionId)?.userAgent).toBe('Bulwark-iOS/2.1');

    // Seen from the phone, the phone is current.
    const fromPhone = await listSessions(phone.accessToken);
    expect(fromPhone.find((s) => s.current)?.id).toBe(phone.sessionId);
  });

  it('never lists token material or internal columns', async () => {
    const user = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      headers: bearer(user.accessToken),
    });
    expect(res.body).not.toContain(user.refreshToken);
    expect(res.body).not.toMatch(/token|hash|user_id|userId|ended|expires/i);
  });

  it('leaves ended sessions out', async () => {
    const user = await registerAndLogin(t.app);
    const other = await loginAs(user.email, 'to-be-ended');
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(other.accessToken),
    });
    const items = await listSessions(user.accessToken);
    expect(items.map((s) => s.id)).toEqual([user.sessionId]);
  });

  it('records a long user agent cut to a bounded length', async () => {
    const user = await registerAndLogin(t.app);
    const long = await loginAs(user.email, `agent/${'x'.repeat(2000)}`);
    const item = (await listSessions(long.accessToken)).find((s) => s.current);
    expect(item?.userAgent?.length).toBeLessThanOrEqual(512);
  });

  it('answers 401 authentication_required without a bearer', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions' });
    expectProblem(res, 401, 'authentication_required');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
  });

  it('rejects unknown query parameters', async () => {
    const user = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions?userId=someone',
      headers: bearer(user.accessToken),
    });
    expectProblem(res, 400, 'validation_failed');
  });
});

describe('DELETE /api/v1/auth/sessions/:id', () => {
  it('ends one of the caller’s own sessions: its tokens stop working', async () => {
    const user = await registerAndLogin(t.app);
    const other = await loginAs(user.email, 'stolen-laptop');
    const events = captureEvents(t.app);

    const res = await endSession(user.accessToken, other.sessionId);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    await expectAccessRefused(t.app, other.accessToken);
    await expectRefreshRefused(t.app, other.refreshToken);
    // The caller's own session is untouched.
    await expectAccessWorks(t.app, user.accessToken);
    await refreshOk(t.app, user.refreshToken);
    expect((await listSessions(user.accessToken)).map((s) => s.id)).toEqual([user.sessionId]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        actorId: user.id,
        target: { type: 'session', id: other.sessionId },
        details: { reason: 'revoked', userId: user.id },
      }),
    );
  });

  it('can end the current session too', async () => {
    const user = await registerAndLogin(t.app);
    expect((await endSession(user.accessToken, user.sessionId)).statusCode).toBe(204);
    await expectAccessRefused(t.app, user.accessToken);
    await expectRefreshRefused(t.app, user.refreshToken);
  });

  it("answers 404 for someone else's session, which keeps working", async () => {
    const attacker = await registerAndLogin(t.app);
    const victim = await registerAndLogin(t.app);
    const events = captureEvents(t.app);

    const res = await endSession(attacker.accessToken, victim.sessionId);
    const body = expectProblem(res, 404, 'not_found');

    // Indistinguishable from an id that does not exist.
    const unknown = await endSession(attacker.accessToken, randomUUID());
    const other = expectProblem(unknown, 404, 'not_found');
    const { requestId: _a, ...a } = body;
    const { requestId: _b, ...b } = other;
    expect(a).toEqual(b);

    await expectAccessWorks(t.app, victim.accessToken);
    await refreshOk(t.app, victim.refreshToken);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'access.denied',
        actorId: attacker.id,
        target: { type: 'session', id: victim.sessionId },
      }),
    );
    expect(events.filter((e) => e.type === 'session.ended')).toEqual([]);
  });

  it('answers 404 for an unknown id and for an already ended session', async () => {
    const user = await registerAndLogin(t.app);
    expectProblem(await endSession(user.accessToken, randomUUID()), 404, 'not_found');
    const other = await loginAs(user.email, 'ended');
    expect((await endSession(user.accessToken, other.sessionId)).statusCode).toBe(204);
    expectProblem(await endSession(user.accessToken, other.sessionId), 404, 'not_found');
  });

  it('ends a session named by the upper-case spelling of its id (RFC 9562: case-insensitive)', async () => {
    const user = await registerAndLogin(t.app);
    const other = await loginAs(user.email, 'upper');
    const events = captureEvents(t.app);
    const res = await endSession(user.accessToken, other.sessionId.toUpperCase());
    expect(res.statusCode, res.body).toBe(204);
    await expectAccessRefused(t.app, other.accessToken);
    await expectAccessWorks(t.app, user.accessToken);
    // The event names the id as stored.
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'session.ended',
        target: { type: 'session', id: other.sessionId },
      }),
    );
    expect(events.filter((e) => e.type === 'access.denied')).toEqual([]);
  });

  it("answers 404 for someone else's session in upper case too, which keeps working", async () => {
    const attacker = await registerAndLogin(t.app);
    const victim = await registerAndLogin(t.app);
    expectProblem(
      await endSession(attacker.accessToken, victim.sessionId.toUpperCase()),
      404,
      'not_found',
    );
    await expectAccessWorks(t.app, victim.accessToken);
  });

  it.each(['not-a-uuid', '1', "1' OR '1'='1", '00000000-0000-0000-0000-00000000000g'])(
    'answers 400 validation_failed for the id %j',
    async (id) => {
      const user = await registerAndLogin(t.app);
      const res = await endSession(user.accessToken, encodeURIComponent(id));
      const body = expectProblem(res, 400, 'validation_failed');
      expect((body.errors as { path: string }[]).map((e) => e.path)).toEqual(['/params/id']);
    },
  );

  it('answers 401 authentication_required without a bearer', async () => {
    const user = await registerAndLogin(t.app);
    const res = await endSession(undefined, user.sessionId);
    expectProblem(res, 401, 'authentication_required');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
    await expectAccessWorks(t.app, user.accessToken);
  });
});
