import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createConfig } from '../../src/config/index.js';
import { totpCode } from '../../src/crypto/index.js';
import type { UserRow } from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  signedByServer,
  uniqueEmail,
  STRONG_PASSWORD,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';
import { outboxMails } from '../helpers/smtp.js';

/*
 * "Sudo mode" for administrators: every change an administrator makes to another account
 * through users:write (create one, give a role, disable, edit, reset its MFA, e-mail it a reset
 * link) needs a session signed in within access.privilegedRecentSignInSeconds (1 hour). A stolen
 * administrator session that has been refreshed for weeks gets the RFC 9470 step-up challenge
 * and changes nothing. Callers without users:write, who can change no other account anyway,
 * get exactly the answers they got before, so the challenge tells nobody whether an id exists.
 */

const WINDOW = 3600;
// Access tokens outlive the window, so that only the sign-in's age can refuse them.
const TTL = 2 * WINDOW;
const ROLES = {
  admin: ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
  user: [],
  auditor: ['users:read'],
};
const UNKNOWN_ID = '7b0d3d1c-4c61-4c7e-9a53-0d6f3c2f9b11';

let clock = Date.UTC(2026, 6, 1, 12, 0, 0);
let t: TestApp;
const outbox = mkdtempSync(join(tmpdir(), 'bulwark-sudo-outbox-'));
const events: RecordedSecurityEvent[] = [];

beforeAll(async () => {
  t = await buildTestApp(
    {
      tokens: { accessTokenTtlSeconds: TTL },
      access: { roles: ROLES },
      email: { outboxDir: outbox, passwordResetUrl: 'https://app.example.com/reset-password' },
    },
    { now: () => clock },
  );
  t.app.services.events.addSink({ record: (event) => void events.push(event) });
});
afterAll(async () => {
  await t.app.close();
});
beforeEach(() => {
  events.length = 0;
});

type Response = LightMyRequestResponse;

/** An administrator account; `secret` when it signs in with a second factor. */
interface Admin {
  email: string;
  secret?: string;
}

/** A new sign-in of `admin` (with a code when it has MFA): a new session, signed in now. */
async function signIn(admin: Admin): Promise<LoggedIn> {
  if (admin.secret === undefined) return login(t.app, admin.email);
  const res = await loginWith(t.app, admin.email, { mfaCode: totpCode(admin.secret, clock) });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json<{ accessToken: string; refreshToken: string; user: { id: string } }>();
  // A code works once per step: the next sign-in is a step later.
  clock += STEP_MS;
  return {
    id: body.user.id,
    email: admin.email,
    password: STRONG_PASSWORD,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    sessionId: jwtPayload(body.accessToken).sid as string,
  };
}

/** A new administrator, with MFA on when `mfa`. */
async function newAdmin(mfa: boolean): Promise<Admin> {
  const admin = await createUserAndLogin(t.app, 'admin');
  if (!mfa) return { email: admin.email };
  const { secret } = await enrolMfa(t.app, admin.accessToken, clock);
  clock += STEP_MS;
  return { email: admin.email, secret };
}

/** Moves the clock to `seconds` after `session` signed in (never backwards). */
function age(session: LoggedIn, seconds: number): void {
  const at = ((jwtPayload(session.accessToken).auth_time as number) + seconds) * 1000;
  expect(at).toBeGreaterThanOrEqual(clock);
  clock = at;
}

async function refresh(session: LoggedIn): Promise<LoggedIn> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refreshToken: session.refreshToken },
  });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json<{ accessToken: string; refreshToken: string }>();
  return { ...session, accessToken: body.accessToken, refreshToken: body.refreshToken };
}

function expectStepUp(res: Response, maxAge: number, within: string): void {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<{ code: string; detail: string }>();
  expect(body.code).toBe('insufficient_user_authentication');
  expect(body.detail).toBe(
    `This needs a session signed in within the last ${within}: sign in again, then retry with the new access token.`,
  );
  const challenge = String(res.headers['www-authenticate']);
  expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
  expect(challenge).toMatch(new RegExp(`, max_age=${maxAge}$`));
}

function expectProblem(res: Response, status: number, code: string): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json<{ code: string }>().code).toBe(code);
}

/** The problem body without the members that differ per request. */
function comparable(res: Response): Record<string, unknown> {
  const { requestId: _requestId, ...rest } = res.json<Record<string, unknown>>();
  return rest;
}

function patchUser(token: string, id: string, payload: Record<string, unknown>) {
  return t.app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${id}`,
    headers: bearer(token),
    payload,
  });
}

async function stored(id: string): Promise<UserRow> {
  const row = await t.app.services.usersRepo.findById(id);
  expect(row).toBeDefined();
  return row!;
}

/** A target account, the request that changes it, and whether it has been changed. */
interface Target {
  send(token: string): Promise<Response>;
  changed(): Promise<boolean>;
}

interface Action {
  name: string;
  /** The route's URL as the access.denied event names it. */
  route: string;
  ok: number;
  /** Takes an administrator session signed in with a second factor. */
  mfa?: true;
  /** What a caller without users:write got before, and still gets. */
  plain: { status: number; code: string };
  target(): Promise<Target>;
  /** The request against an id no account has, for routes that take one. */
  unknown?: (token: string) => Promise<Response>;
}

function patchAction(
  name: string,
  payload: Record<string, unknown>,
  done: (row: UserRow) => boolean,
): Action {
  return {
    name,
    route: '/api/v1/users/:id',
    ok: 200,
    plain: { status: 404, code: 'not_found' },
    async target() {
      const bob = await registerAndLogin(t.app);
      return {
        send: (token) => patchUser(token, bob.id, payload),
        changed: async () => done(await stored(bob.id)),
      };
    },
    unknown: (token) => patchUser(token, UNKNOWN_ID, payload),
  };
}

const actions: Action[] = [
  {
    name: 'POST /users (create an account with a role)',
    route: '/api/v1/users',
    ok: 201,
    plain: { status: 403, code: 'forbidden' },
    target() {
      const email = uniqueEmail('created');
      return Promise.resolve({
        send: (token) =>
          t.app.inject({
            method: 'POST',
            url: '/api/v1/users',
            headers: bearer(token),
            payload: { email, password: STRONG_PASSWORD, name: 'Created', role: 'admin' },
          }),
        changed: async () => (await t.app.services.usersRepo.findByEmail(email)) !== undefined,
      });
    },
  },
  patchAction('PATCH /users/:id { role }', { role: 'admin' }, (row) => row.role === 'admin'),
  patchAction('PATCH /users/:id { disabled }', { disabled: true }, (row) => row.disabled === 1),
  patchAction('PATCH /users/:id { name }', { name: 'Renamed' }, (row) => row.name === 'Renamed'),
  {
    name: 'DELETE /users/:id/mfa (reset MFA)',
    route: '/api/v1/users/:id/mfa',
    ok: 204,
    mfa: true,
    plain: { status: 403, code: 'forbidden' },
    async target() {
      const bob = await registerAndLogin(t.app);
      await enrolMfa(t.app, bob.accessToken, clock);
      const send = (token: string) =>
        t.app.inject({
          method: 'DELETE',
          url: `/api/v1/users/${bob.id}/mfa`,
          headers: bearer(token),
        });
      return { send, changed: async () => (await stored(bob.id)).mfa_enabled === 0 };
    },
    unknown: (token) =>
      t.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${UNKNOWN_ID}/mfa`,
        headers: bearer(token),
      }),
  },
  {
    name: 'POST /users/:id/password-reset (e-mail a reset link)',
    route: '/api/v1/users/:id/password-reset',
    ok: 202,
    plain: { status: 403, code: 'forbidden' },
    async target() {
      const bob = await registerAndLogin(t.app);
      const send = (token: string) =>
        t.app.inject({
          method: 'POST',
          url: `/api/v1/users/${bob.id}/password-reset`,
          headers: bearer(token),
        });
      const changed = async () => {
        await t.app.services.accountEmail!.idle();
        const reset = await t.testDb.db.kysely
          .selectFrom('email_tokens')
          .select('id')
          .where('user_id', '=', bob.id)
          .where('purpose', '=', 'password_reset')
          .execute();
        const mailed = outboxMails(outbox).some(
          (m) => m.to.includes(bob.email) && /Reset your/.test(m.header('subject') ?? ''),
        );
        expect(mailed).toBe(reset.length > 0);
        return mailed;
      };
      return { send, changed };
    },
    unknown: (token) =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/users/${UNKNOWN_ID}/password-reset`,
        headers: bearer(token),
      }),
  },
];

describe.each(actions)(`$name on ${dialectUnderTest}`, (action) => {
  function refusedEvent(actorId: string): RecordedSecurityEvent {
    return expect.objectContaining({
      type: 'access.denied',
      outcome: 'denied',
      actorId,
      details: {
        reason: 'sign_in_too_old',
        maxAgeSeconds: WINDOW,
        status: 401,
        route: action.route,
      },
    }) as RecordedSecurityEvent;
  }

  it('works from a fresh administrator session', async () => {
    const admin = await signIn(await newAdmin(action.mfa === true));
    const target = await action.target();
    const res = await target.send(admin.accessToken);
    expect(res.statusCode, res.body).toBe(action.ok);
    expect(await target.changed()).toBe(true);
  });

  it('works up to the window; a second past it is 401 with the challenge, and nothing changes', async () => {
    const admin = await signIn(await newAdmin(action.mfa === true));
    const first = await action.target();
    const second = await action.target();
    age(admin, WINDOW);
    expect((await first.send(admin.accessToken)).statusCode).toBe(action.ok);
    expect(await first.changed()).toBe(true);

    age(admin, WINDOW + 1);
    events.length = 0;
    expectStepUp(await second.send(admin.accessToken), WINDOW, 'hour');
    expect(await second.changed()).toBe(false);
    expect(events).toEqual([refusedEvent(admin.id)]);
  });

  it('refreshing does not renew the sign-in; a new sign-in does', async () => {
    const account = await newAdmin(action.mfa === true);
    const admin = await signIn(account);
    const target = await action.target();
    age(admin, WINDOW + 1);
    expectStepUp(await target.send(admin.accessToken), WINDOW, 'hour');
    const refreshed = await refresh(admin);
    expect(jwtPayload(refreshed.accessToken).auth_time).toBe(
      jwtPayload(admin.accessToken).auth_time,
    );
    expectStepUp(await target.send(refreshed.accessToken), WINDOW, 'hour');
    expect(await target.changed()).toBe(false);

    const again = await signIn(account);
    expect((await target.send(again.accessToken)).statusCode).toBe(action.ok);
    expect(await target.changed()).toBe(true);
  });

  it('refuses a token that does not say when its session signed in', async () => {
    // As tokens issued before auth_time existed: valid, but never recent.
    const admin = await signIn(await newAdmin(action.mfa === true));
    const { auth_time: _dropped, ...claims } = jwtPayload(admin.accessToken);
    const token = await signedByServer(t.app, claims);
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(token),
    });
    expect(me.statusCode).toBe(200);
    const target = await action.target();
    events.length = 0;
    expectStepUp(await target.send(token), WINDOW, 'hour');
    expect(await target.changed()).toBe(false);
    expect(events).toEqual([refusedEvent(admin.id)]);
  });

  if (action.unknown !== undefined) {
    const unknown = action.unknown;
    it('challenges an old administrator session alike for an id no account has', async () => {
      // Decided before the target is looked up: the answer does not depend on whether it exists.
      const account = await newAdmin(action.mfa === true);
      const admin = await signIn(account);
      age(admin, WINDOW + 1);
      expectStepUp(await unknown(admin.accessToken), WINDOW, 'hour');
      const fresh = await signIn(account);
      expectProblem(await unknown(fresh.accessToken), 404, 'not_found');
    });
  }

  it.each([
    ['a plain user', 'user'],
    ['a users:read-only auditor', 'auditor'],
  ])(
    '%s gets the answer it got before, from an old session too (never the challenge)',
    async (_who, role) => {
      const caller = await createUserAndLogin(t.app, role);
      const target = await action.target();
      // The auditor sees other accounts: 403 for an existing one, 404 for an unknown id.
      const plain =
        role === 'auditor' && action.plain.status === 404
          ? { status: 403, code: 'forbidden' }
          : action.plain;
      const fresh = await target.send(caller.accessToken);
      expectProblem(fresh, plain.status, plain.code);
      age(caller, WINDOW + 1);
      const old = await target.send(caller.accessToken);
      expectProblem(old, plain.status, plain.code);
      expect(comparable(old)).toEqual(comparable(fresh));
      expect(await target.changed()).toBe(false);
      expect(events.map((e) => e.details?.reason)).not.toContain('sign_in_too_old');
      if (action.unknown !== undefined) {
        const missing = await action.unknown(caller.accessToken);
        expectProblem(missing, action.plain.status, action.plain.code);
        if (role === 'user') expect(comparable(missing)).toEqual(comparable(old));
      }
    },
  );
});

describe(`editing oneself on ${dialectUnderTest}`, () => {
  it('needs no recent sign-in, for an administrator either', async () => {
    const admin = await signIn(await newAdmin(false));
    const bob = await registerAndLogin(t.app);
    age(admin, WINDOW + 1);
    age(bob, WINDOW + 1);
    for (const caller of [admin, bob]) {
      const me = await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/users/me',
        headers: bearer(caller.accessToken),
        payload: { name: 'Me Myself' },
      });
      expect(me.statusCode, me.body).toBe(200);
      const byId = await patchUser(caller.accessToken, caller.id, {
        name: 'Me Again',
        phone: '+441632960961',
      });
      expect(byId.statusCode, byId.body).toBe(200);
      expect((await stored(caller.id)).name).toBe('Me Again');
    }
    expect(events.map((e) => e.details?.reason)).not.toContain('sign_in_too_old');
    // The same old administrator session is refused as soon as the account is another's.
    expectStepUp(await patchUser(admin.accessToken, bob.id, { name: 'Not Mine' }), WINDOW, 'hour');
    expect((await stored(bob.id)).name).toBe('Me Again');
  });
});

describe(`the windows of DELETE /users/:id on ${dialectUnderTest}`, () => {
  function deleteUser(app: TestApp['app'], token: string, id: string) {
    return app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers: bearer(token) });
  }

  it('by default, the shorter access.recentSignInSeconds refuses an administrator first', async () => {
    const admin = await signIn(await newAdmin(false));
    const bob = await registerAndLogin(t.app);
    age(admin, 601);
    events.length = 0;
    expectStepUp(await deleteUser(t.app, admin.accessToken, bob.id), 600, '10 minutes');
    expect(events).toEqual([
      expect.objectContaining({
        type: 'access.denied',
        details: expect.objectContaining({ maxAgeSeconds: 600 }) as unknown,
      }),
    ]);
    expect(await t.app.services.usersRepo.findById(bob.id)).toBeDefined();
  });

  it('takes the privileged window too when it is the shorter, for another account only', async () => {
    const short = await buildTestApp(
      { access: { recentSignInSeconds: 7200, privilegedRecentSignInSeconds: 120 } },
      { now: () => clock },
    );
    const shortEvents: RecordedSecurityEvent[] = [];
    short.app.services.events.addSink({ record: (event) => void shortEvents.push(event) });
    try {
      const admin = await createUserAndLogin(short.app, 'admin');
      const [bob, carol, dave] = [
        await registerAndLogin(short.app),
        await registerAndLogin(short.app),
        await registerAndLogin(short.app),
      ];
      age(admin, 120);
      expect((await deleteUser(short.app, admin.accessToken, bob.id)).statusCode).toBe(204);

      age(admin, 121);
      shortEvents.length = 0;
      expectStepUp(await deleteUser(short.app, admin.accessToken, carol.id), 120, '2 minutes');
      expect(await short.app.services.usersRepo.findById(carol.id)).toBeDefined();
      expect(shortEvents).toEqual([
        expect.objectContaining({
          type: 'access.denied',
          actorId: admin.id,
          details: {
            reason: 'sign_in_too_old',
            maxAgeSeconds: 120,
            status: 401,
            route: '/api/v1/users/:id',
          },
        }),
      ]);
      const edit = await short.app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${carol.id}`,
        headers: bearer(admin.accessToken),
        payload: { disabled: true },
      });
      expectStepUp(edit, 120, '2 minutes');

      // Callers without users:write: as before (their own account: 204; another's: 404).
      const other = await deleteUser(short.app, carol.accessToken, dave.id);
      expectProblem(other, 404, 'not_found');
      expect((await deleteUser(short.app, carol.accessToken, carol.id)).statusCode).toBe(204);
    } finally {
      await short.app.close();
    }
  });
});

describe('the OpenAPI document', () => {
  it('says which routes take a recent sign-in, and which window', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json<{ paths: Record<string, Record<string, { summary?: string }>> }>().paths;
    const summary = (path: string, method: string) => paths[path]?.[method]?.summary ?? '';
    for (const [path, method] of [
      ['/api/v1/users', 'post'],
      ['/api/v1/users/{id}', 'patch'],
      ['/api/v1/users/{id}', 'delete'],
      ['/api/v1/users/{id}/mfa', 'delete'],
      ['/api/v1/users/{id}/password-reset', 'post'],
    ] as const) {
      expect(summary(path, method), `${method} ${path}`).toContain(
        'from a session signed in within access.privilegedRecentSignInSeconds',
      );
    }
    expect(summary('/api/v1/users/{id}', 'delete')).toContain('access.recentSignInSeconds');
    expect(summary('/api/v1/users/me', 'patch')).not.toContain('signed in within');
  });
});

describe('configuration', () => {
  it('access.privilegedRecentSignInSeconds is 3600 by default, within 60 s to a day', () => {
    expect(createConfig({}).access.privilegedRecentSignInSeconds).toBe(3600);
    expect(
      createConfig({ access: { privilegedRecentSignInSeconds: 60 } }).access
        .privilegedRecentSignInSeconds,
    ).toBe(60);
    expect(
      createConfig({ access: { privilegedRecentSignInSeconds: 86_400 } }).access
        .privilegedRecentSignInSeconds,
    ).toBe(86_400);
    for (const bad of [59, 86_401, 600.5]) {
      expect(() => createConfig({ access: { privilegedRecentSignInSeconds: bad } })).toThrow(
        /access\.privilegedRecentSignInSeconds/,
      );
    }
  });

  it('another window is the max_age of the challenge, and said in hours when whole', async () => {
    const long = await buildTestApp(
      {
        access: { privilegedRecentSignInSeconds: 7200 },
        tokens: { accessTokenTtlSeconds: 10_800 },
      },
      { now: () => clock },
    );
    try {
      const admin = await createUserAndLogin(long.app, 'admin');
      const bob = await registerAndLogin(long.app);
      const disable = () =>
        long.app.inject({
          method: 'PATCH',
          url: `/api/v1/users/${bob.id}`,
          headers: bearer(admin.accessToken),
          payload: { disabled: true },
        });
      age(admin, 7201);
      expectStepUp(await disable(), 7200, '2 hours');
      expect((await long.app.services.usersRepo.findById(bob.id))?.disabled).toBe(0);
    } finally {
      await long.app.close();
    }
  });
});
