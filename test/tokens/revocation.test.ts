import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionsRepository, UsersRepository } from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { holdNextPasswordCheck } from '../helpers/hold-password-check.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';

/*
 * An access token dies with its session, at once: every way a session ends is followed by a
 * request with the still-unexpired token. The clock stands still for the whole file, so no token
 * here can stop working by expiring; only revocation can explain a 401.
 */

const ACTIVE_RECHECK_MS = 30_000; // SessionState's default activeTtlMs

let clock = Date.now();
let t: TestApp;
const events: RecordedSecurityEvent[] = [];

beforeAll(async () => {
  t = await buildTestApp({}, { now: () => clock });
  t.app.services.events.addSink({ record: (event) => void events.push(event) });
});
afterAll(async () => {
  await t.app.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function status(token: string, url = '/api/v1/users/me'): Promise<number> {
  const res = await t.app.inject({ method: 'GET', url, headers: bearer(token) });
  return res.statusCode;
}

async function expectWorks(...users: LoggedIn[]): Promise<void> {
  for (const user of users) expect(await status(user.accessToken), user.sessionId).toBe(200);
}

/** The token is refused as invalid_token because its session ended (not for any other reason). */
async function expectRevoked(...users: LoggedIn[]): Promise<void> {
  for (const user of users) {
    events.length = 0;
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(user.accessToken),
    });
    expect(res.statusCode, user.sessionId).toBe(401);
    expect(res.json()).toMatchObject({ code: 'invalid_token' });
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    const reasons = events.filter((e) => e.type === 'token.invalid').map((e) => e.details?.reason);
    expect(reasons).toEqual(['session ended']);
  }
}

async function refreshStatus(user: LoggedIn): Promise<number> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refreshToken: user.refreshToken },
  });
  return res.statusCode;
}

function endedEvents(): RecordedSecurityEvent[] {
  return events.filter((e) => e.type === 'session.ended');
}

describe('revocation takes effect at once', () => {
  it('logout ends this session and only this one', async () => {
    const first = await registerAndLogin(t.app);
    const second = await login(t.app, first.email);
    await expectWorks(first, second);

    events.length = 0;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(first.accessToken),
    });
    expect(res.statusCode).toBe(204);
    expect(endedEvents()).toEqual([
      expect.objectContaining({
        target: { type: 'session', id: first.sessionId },
        details: expect.objectContaining({ reason: 'logout' }) as unknown,
      }),
    ]);

    await expectRevoked(first);
    expect(await refreshStatus(first)).toBe(401);
    await expectWorks(second);
    // A second logout with the dead token is itself refused.
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(first.accessToken),
    });
    expect(again.statusCode).toBe(401);
  });

  it('logout-all ends every session of the user', async () => {
    const first = await registerAndLogin(t.app);
    const second = await login(t.app, first.email);
    const third = await login(t.app, first.email);
    const bystander = await registerAndLogin(t.app);
    await expectWorks(first, second, third, bystander);

    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout-all',
      headers: bearer(second.accessToken),
    });
    expect(res.statusCode).toBe(204);

    await expectRevoked(first, second, third);
    for (const user of [first, second, third]) expect(await refreshStatus(user)).toBe(401);
    await expectWorks(bystander);
  });

  it('ending one session from the session list revokes its token', async () => {
    const first = await registerAndLogin(t.app);
    const second = await login(t.app, first.email);
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${second.sessionId}`,
      headers: bearer(first.accessToken),
    });
    expect(res.statusCode).toBe(204);
    await expectRevoked(second);
    await expectWorks(first);
  });

  it("a password change ends the other sessions and keeps the caller's", async () => {
    const caller = await registerAndLogin(t.app);
    const other = await login(t.app, caller.email);
    const another = await login(t.app, caller.email);
    await expectWorks(caller, other, another);

    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: bearer(caller.accessToken),
      payload: {
        currentPassword: caller.password,
        newPassword: 'a completely different passphrase 77',
      },
    });
    expect(res.statusCode, res.body).toBe(204);

    await expectRevoked(other, another);
    expect(await refreshStatus(other)).toBe(401);
    await expectWorks(caller);
    expect(await refreshStatus(caller)).toBe(200);
  });

  it('deleting your own account ends all its sessions', async () => {
    const user = await registerAndLogin(t.app);
    const other = await login(t.app, user.email);
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(user.accessToken),
    });
    expect(res.statusCode, res.body).toBe(204);
    await expectRevoked(user, other);
    expect(await refreshStatus(other)).toBe(401);
  });

  it('an admin disabling a user ends all its sessions', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const other = await login(t.app, user.email);
    await expectWorks(user, other);

    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(admin.accessToken),
      payload: { disabled: true },
    });
    expect(res.statusCode, res.body).toBe(200);

    await expectRevoked(user, other);
    expect(await refreshStatus(other)).toBe(401);
    await expectWorks(admin);
    const relogin = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(relogin.statusCode).not.toBe(200);
  });

  it('demoting an admin ends its sessions, so no token keeps the old role', async () => {
    const actor = await createUserAndLogin(t.app, 'admin');
    const demoted = await createUserAndLogin(t.app, 'admin');
    expect(await status(demoted.accessToken, '/api/v1/users')).toBe(200);

    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${demoted.id}`,
      headers: bearer(actor.accessToken),
      payload: { role: 'user' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ role: 'user' });

    await expectRevoked(demoted);
    events.length = 0;
    expect(await status(demoted.accessToken, '/api/v1/users')).toBe(401);
    // Logging in again yields a token with the new role, and the admin route is closed to it.
    const again = await login(t.app, demoted.email);
    expect(await status(again.accessToken, '/api/v1/users')).toBe(403);
    await expectWorks(actor, again);
  });

  it('promoting a user also ends its sessions (the token role would be stale)', async () => {
    const actor = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(actor.accessToken),
      payload: { role: 'admin' },
    });
    expect(res.statusCode, res.body).toBe(200);
    await expectRevoked(user);
  });
});

describe('the hot path', () => {
  it('verifies a token with no database query, and re-checks the session after activeTtlMs', async () => {
    const user = await registerAndLogin(t.app);
    await expectWorks(user);

    const findById = vi.spyOn(SessionsRepository.prototype, 'findById');
    const findUser = vi.spyOn(UsersRepository.prototype, 'findById');
    const executor = t.app.services.db.kysely.getExecutor();
    const executeQuery = vi.spyOn(executor, 'executeQuery');
    const sql = (): string[] => executeQuery.mock.calls.map(([query]) => query.sql);

    for (let i = 0; i < 20; i += 1) await expectWorks(user);
    expect(findById).not.toHaveBeenCalled();
    // The route itself reads the user (a prepared read, which on SQLite may bypass the executor);
    // nothing reads sessions or keys to verify the token.
    expect(findUser).toHaveBeenCalledTimes(20);
    expect(sql().filter((text) => /sessions|signing_keys/.test(text))).toEqual([]);

    // Control: once the cached "active" is older than activeTtlMs the database is asked again,
    // exactly once, which also shows the spy sees the calls it must not see above.
    const start = clock;
    try {
      clock += ACTIVE_RECHECK_MS + 1;
      await expectWorks(user);
      await expectWorks(user);
      expect(findById).toHaveBeenCalledTimes(1);
      expect(findById).toHaveBeenCalledWith(user.sessionId);
      // ...and that the executor spy does see a session read when there is one.
      expect(sql().filter((text) => /sessions/.test(text))).toHaveLength(1);
    } finally {
      clock = start;
    }
  });

  it('remembers a revoked session without asking the database', async () => {
    const user = await registerAndLogin(t.app);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(user.accessToken),
    });
    const findById = vi.spyOn(SessionsRepository.prototype, 'findById');
    for (let i = 0; i < 20; i += 1) expect(await status(user.accessToken)).toBe(401);
    expect(findById).not.toHaveBeenCalled();
  });
});

describe('a logout racing a request', () => {
  it('keeps the session ended when a database read that started before the logout returns after it', async () => {
    const user = await registerAndLogin(t.app);
    await expectWorks(user);
    const start = clock;
    try {
      // The cached "active" is due for its re-check: the next request reads the session row.
      clock += ACTIVE_RECHECK_MS + 1;
      const repo = new SessionsRepository(t.app.services.db.kysely);
      const readRow = repo.findById.bind(repo); // bound before the spy replaces it
      let entered!: () => void;
      const reading = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held = false;
      // The first read sees the session active, then is held until the logout has finished.
      vi.spyOn(SessionsRepository.prototype, 'findById').mockImplementation(async (id: string) => {
        const row = await readRow(id);
        if (!held) {
          held = true;
          entered();
          await released;
        }
        return row;
      });
      const inFlight = t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: bearer(user.accessToken),
      });
      await reading;
      const out = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: bearer(user.accessToken),
      });
      expect(out.statusCode).toBe(204);
      release();
      // The request in flight read the row before the logout; what it read must not outlive it.
      expect((await inFlight).statusCode).toBe(401);
      await expectRevoked(user);
    } finally {
      clock = start;
    }
  });

  it('still remembers an active session read while no session ended', async () => {
    const user = await registerAndLogin(t.app);
    const start = clock;
    try {
      clock += ACTIVE_RECHECK_MS + 1;
      const findById = vi.spyOn(SessionsRepository.prototype, 'findById');
      await expectWorks(user);
      await expectWorks(user);
      expect(findById).toHaveBeenCalledTimes(1);
    } finally {
      clock = start;
    }
  });
});

describe('a password login racing an administrator', () => {
  /**
   * Logs `user` in, holding the request after its password check while `change` runs: the login
   * read the user row before the change, and starts its session after it.
   */
  async function loginAround(user: LoggedIn, change: () => Promise<void>) {
    const { checking, release } = holdNextPasswordCheck(t.app);
    const pending = t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    await checking;
    await change();
    release();
    return pending;
  }

  async function patchUser(admin: LoggedIn, id: string, payload: object): Promise<void> {
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${id}`,
      headers: bearer(admin.accessToken),
      payload,
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  it('gives no working session to a user disabled while its password was being checked', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const res = await loginAround(user, () => patchUser(admin, user.id, { disabled: true }));
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json()).toMatchObject({ code: 'account_disabled' });
    // Nothing was left open behind the refusal.
    const open = await t.app.services.db.kysely
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', user.id)
      .where('ended_at', 'is', null)
      .execute();
    expect(open).toEqual([]);
  });

  it('gives a user demoted while its password was being checked a token with the new role', async () => {
    const actor = await createUserAndLogin(t.app, 'admin');
    const demoted = await createUserAndLogin(t.app, 'admin');
    const res = await loginAround(demoted, () => patchUser(actor, demoted.id, { role: 'user' }));
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ accessToken: string; user: { role: string } }>();
    expect(body.user.role).toBe('user');
    expect(jwtPayload(body.accessToken).role).toBe('user');
    expect(await status(body.accessToken, '/api/v1/users')).toBe(403);
    expect(await status(body.accessToken)).toBe(200);
  });

  it('answers a user deleted while its password was being checked as invalid credentials', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const res = await loginAround(user, async () => {
      const del = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${user.id}`,
        headers: bearer(admin.accessToken),
      });
      expect(del.statusCode, del.body).toBe(204);
    });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ code: 'invalid_credentials' });
  });

  it('leaves no working session to a login that starts its session while the user is being deleted', async () => {
    const admin = await createUserAndLogin(t.app, 'admin');
    const user = await registerAndLogin(t.app);
    const { sessions } = t.app.services;
    const endAll = sessions.endAll.bind(sessions); // bound before the spy replaces it
    let deleting!: () => void;
    const sessionsEnded = new Promise<void>((resolve) => (deleting = resolve));
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    let pendingDelete: Promise<{ statusCode: number }> | undefined;
    // The deletion has ended the sessions but not yet deleted the row when the login, its
    // password checked, starts its session.
    vi.spyOn(sessions, 'endAll').mockImplementationOnce(async (...args) => {
      const ended = await endAll(...args);
      deleting();
      await resumed;
      return ended;
    });
    const res = await loginAround(user, async () => {
      pendingDelete = t.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${user.id}`,
        headers: bearer(admin.accessToken),
      });
      await sessionsEnded;
    });
    resume();
    expect((await pendingDelete!).statusCode).toBe(204);
    // A user on its way out is disabled first: the login sees it and starts nothing that the
    // deletion would take away unannounced (this instance would believe it active for 30 s).
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json()).toMatchObject({ code: 'account_disabled' });
  });

  it('leaves no session to a login with the old password that finishes after a password change', async () => {
    const user = await registerAndLogin(t.app);
    const res = await loginAround(user, async () => {
      const change = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: bearer(user.accessToken),
        payload: { currentPassword: user.password, newPassword: 'velvet orbit lantern mosaic 93' },
      });
      expect(change.statusCode, change.body).toBe(204);
    });
    // The old password was right when it was checked, but the change "ends every other session":
    // a session started after it with the old password would outlive it.
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ code: 'invalid_credentials' });
    const open = await t.app.services.db.kysely
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', user.id)
      .where('ended_at', 'is', null)
      .execute();
    expect(open.map((row) => row.id)).toEqual([user.sessionId]);
  });

  it('still logs in a user whose hash was only upgraded meanwhile (same password)', async () => {
    const user = await registerAndLogin(t.app);
    const res = await loginAround(user, async () => {
      const rehashed = await t.app.services.hasher.hash(user.password);
      await t.app.services.usersRepo.update(user.id, { password_hash: rehashed });
    });
    expect(res.statusCode, res.body).toBe(200);
  });
});
