import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { LogCapture, testConfigInput, UNCONTACTED_PROVIDER } from '../helpers/app.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';

/*
 * The access-control matrix: every route of the contract that needs a caller, tried as each kind
 * of caller, with the status each must get. A second test enumerates the routes the app really
 * registers under /api/v1 and fails when one is missing from the matrix, so a new route cannot
 * ship without someone deciding, here, who may call it.
 *
 * The app is built without the example routes test/helpers/app.ts adds: this is the product's
 * own route table.
 */

type Role = 'anonymous' | 'revoked' | 'user' | 'admin';
const ROLES: readonly Role[] = ['anonymous', 'revoked', 'user', 'admin'];

/** The problem code each denial must carry. */
const CODE_FOR_STATUS: Record<number, string> = {
  403: 'forbidden',
  404: 'not_found',
};
const CODE_FOR_401: Record<'anonymous' | 'revoked', string> = {
  anonymous: 'authentication_required',
  revoked: 'invalid_token',
};

interface Cell {
  /** The caller; absent for anonymous. Its session has ended for `revoked`. */
  self: LoggedIn | undefined;
  /** Another, ordinary user with a live session: the object of "someone else's" requests. */
  victim: LoggedIn;
}

interface Row {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** As in the OpenAPI document. */
  path: string;
  /** What is being tried, when one route has several rows. */
  variant?: string;
  url(cell: Cell): string;
  payload?(cell: Cell): Record<string, unknown>;
  expect: Record<Role, number>;
  /** The problem code of an expected status that is not a denial (a 409 past the guard). */
  code?: string;
}

const DENIED = { anonymous: 401, revoked: 401 } as const;
/** The caller itself, or (anonymous) the victim: an anonymous caller has no self. */
const selfId = (c: Cell): string => (c.self ?? c.victim).id;
const selfSession = (c: Cell): string => (c.self ?? c.victim).sessionId;

const MATRIX: Row[] = [
  // /api/v1/admin
  {
    method: 'GET',
    path: '/api/v1/admin/audit-events',
    url: () => '/api/v1/admin/audit-events',
    expect: { ...DENIED, user: 403, admin: 200 },
  },
  // /api/v1/users
  {
    method: 'GET',
    path: '/api/v1/users/me',
    url: () => '/api/v1/users/me',
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/me',
    url: () => '/api/v1/users/me',
    payload: () => ({ name: 'Matrix' }),
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'GET',
    path: '/api/v1/users',
    url: () => '/api/v1/users',
    expect: { ...DENIED, user: 403, admin: 200 },
  },
  {
    method: 'POST',
    path: '/api/v1/users',
    url: () => '/api/v1/users',
    payload: () => ({
      email: uniqueEmail('matrix'),
      password: STRONG_PASSWORD,
      name: 'Matrix',
      role: 'admin',
    }),
    expect: { ...DENIED, user: 403, admin: 201 },
  },
  {
    method: 'GET',
    path: '/api/v1/users/{id}',
    variant: 'someone else',
    url: (c) => `/api/v1/users/${c.victim.id}`,
    expect: { ...DENIED, user: 404, admin: 200 },
  },
  {
    method: 'GET',
    path: '/api/v1/users/{id}',
    variant: 'self',
    url: (c) => `/api/v1/users/${selfId(c)}`,
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/{id}',
    variant: 'someone else, name',
    url: (c) => `/api/v1/users/${c.victim.id}`,
    payload: () => ({ name: 'Hijacked' }),
    expect: { ...DENIED, user: 404, admin: 200 },
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/{id}',
    variant: 'someone else, role',
    url: (c) => `/api/v1/users/${c.victim.id}`,
    payload: () => ({ role: 'admin' }),
    expect: { ...DENIED, user: 404, admin: 200 },
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/{id}',
    variant: 'self, name',
    url: (c) => `/api/v1/users/${selfId(c)}`,
    payload: () => ({ name: 'Self' }),
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/{id}',
    variant: 'self, role',
    url: (c) => `/api/v1/users/${selfId(c)}`,
    payload: () => ({ role: 'admin' }),
    expect: { ...DENIED, user: 403, admin: 200 },
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/{id}',
    variant: 'self, disabled',
    url: (c) => `/api/v1/users/${selfId(c)}`,
    payload: () => ({ disabled: false }),
    expect: { ...DENIED, user: 403, admin: 200 },
  },
  {
    method: 'DELETE',
    path: '/api/v1/users/{id}',
    variant: 'someone else',
    url: (c) => `/api/v1/users/${c.victim.id}`,
    expect: { ...DENIED, user: 404, admin: 204 },
  },
  {
    method: 'DELETE',
    path: '/api/v1/users/{id}',
    variant: 'self',
    url: (c) => `/api/v1/users/${selfId(c)}`,
    expect: { ...DENIED, user: 204, admin: 204 },
  },
  {
    method: 'GET',
    path: '/api/v1/users/me/identities',
    url: () => '/api/v1/users/me/identities',
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'DELETE',
    path: '/api/v1/users/me/identities/{id}',
    variant: 'not the caller’s (test/oidc/identities.test.ts covers another user’s)',
    url: () => '/api/v1/users/me/identities/00000000-0000-4000-8000-000000000000',
    // Identities are private even from administrators.
    expect: { ...DENIED, user: 404, admin: 404 },
  },
  // /api/v1/auth
  {
    method: 'POST',
    path: '/api/v1/auth/logout',
    url: () => '/api/v1/auth/logout',
    expect: { ...DENIED, user: 204, admin: 204 },
  },
  {
    method: 'POST',
    path: '/api/v1/auth/logout-all',
    url: () => '/api/v1/auth/logout-all',
    expect: { ...DENIED, user: 204, admin: 204 },
  },
  {
    method: 'GET',
    path: '/api/v1/auth/sessions',
    url: () => '/api/v1/auth/sessions',
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'DELETE',
    path: '/api/v1/auth/sessions/{id}',
    variant: "someone else's",
    url: (c) => `/api/v1/auth/sessions/${c.victim.sessionId}`,
    // Sessions are private even from administrators.
    expect: { ...DENIED, user: 404, admin: 404 },
  },
  {
    method: 'DELETE',
    path: '/api/v1/auth/sessions/{id}',
    variant: 'own',
    url: (c) => `/api/v1/auth/sessions/${selfSession(c)}`,
    expect: { ...DENIED, user: 204, admin: 204 },
  },
  {
    method: 'POST',
    path: '/api/v1/auth/password',
    url: () => '/api/v1/auth/password',
    payload: () => ({
      currentPassword: STRONG_PASSWORD,
      newPassword: 'an entirely different passphrase 77',
    }),
    expect: { ...DENIED, user: 204, admin: 204 },
  },
  {
    method: 'DELETE',
    path: '/api/v1/users/{id}/mfa',
    variant: "someone else's",
    url: (c) => `/api/v1/users/${c.victim.id}/mfa`,
    // An administrator also needs a session signed in with MFA (app.requireMfa); these
    // administrators signed in with a password only.
    expect: { ...DENIED, user: 403, admin: 401 },
    code: 'insufficient_user_authentication',
  },
  {
    method: 'DELETE',
    path: '/api/v1/users/{id}/mfa',
    variant: 'own',
    url: (c) => `/api/v1/users/${selfId(c)}/mfa`,
    expect: { ...DENIED, user: 403, admin: 401 },
    code: 'insufficient_user_authentication',
  },
  // /api/v1/auth/mfa: the caller's own second factor only; no route names another user.
  {
    method: 'GET',
    path: '/api/v1/auth/mfa',
    url: () => '/api/v1/auth/mfa',
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'POST',
    path: '/api/v1/auth/mfa/totp/setup',
    url: () => '/api/v1/auth/mfa/totp/setup',
    payload: () => ({ password: STRONG_PASSWORD }),
    expect: { ...DENIED, user: 200, admin: 200 },
  },
  {
    method: 'POST',
    path: '/api/v1/auth/mfa/totp/confirm',
    url: () => '/api/v1/auth/mfa/totp/confirm',
    payload: () => ({ mfaCode: '123456' }),
    // Authenticated callers reach the handler: nothing to confirm without a setup.
    expect: { ...DENIED, user: 409, admin: 409 },
    code: 'mfa_setup_required',
  },
  {
    method: 'POST',
    path: '/api/v1/auth/mfa/disable',
    url: () => '/api/v1/auth/mfa/disable',
    payload: () => ({ password: STRONG_PASSWORD, mfaCode: '123456' }),
    expect: { ...DENIED, user: 409, admin: 409 },
    code: 'mfa_not_enabled',
  },
  {
    method: 'POST',
    path: '/api/v1/auth/mfa/recovery-codes',
    url: () => '/api/v1/auth/mfa/recovery-codes',
    payload: () => ({ password: STRONG_PASSWORD, mfaCode: '123456' }),
    expect: { ...DENIED, user: 409, admin: 409 },
    code: 'mfa_not_enabled',
  },
];

/** Routes anyone may call. Everything else under /api/v1 must be in MATRIX. */
const PUBLIC = new Set([
  'GET /api/v1',
  'POST /api/v1/auth/register',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  // The OIDC sign-in flow: the browser is anonymous until the exchange hands it tokens.
  'GET /api/v1/auth/oidc/{provider}',
  'GET /api/v1/auth/oidc/{provider}/callback',
  'POST /api/v1/auth/oidc/exchange',
]);

let app: BulwarkApp;
let testDb: TestDb;
beforeAll(async () => {
  testDb = await createMigratedTestDb();
  try {
    // A provider (never contacted here), so that the sign-in routes are in the API description
    // too: without one they answer but are left out of it.
    app = await buildApp(createConfig({ ...testConfigInput(testDb), oidc: UNCONTACTED_PROVIDER }), {
      logger: new LogCapture(),
    });
  } catch (error) {
    await testDb.cleanup();
    throw error;
  }
  app.addHook('onClose', () => testDb.cleanup());
  await app.ready();
  // A standing administrator, so no cell ever trips the last-admin rule.
  await createUserAndLogin(app, 'admin');
});
afterAll(async () => {
  await app.close();
});

async function caller(role: Role): Promise<LoggedIn | undefined> {
  switch (role) {
    case 'anonymous':
      return undefined;
    case 'user':
      return registerAndLogin(app);
    case 'admin':
      return createUserAndLogin(app, 'admin');
    case 'revoked': {
      // An administrator's token whose session has ended: the signature is fine, the rights are gone.
      const admin = await createUserAndLogin(app, 'admin');
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        headers: bearer(admin.accessToken),
      });
      expect(res.statusCode).toBe(204);
      return admin;
    }
  }
}

function label(row: Row): string {
  return `${row.method} ${row.path}${row.variant ? ` (${row.variant})` : ''}`;
}

const cells = MATRIX.flatMap((row) => ROLES.map((role) => [label(row), role, row] as const));

describe(`access-control matrix on ${dialectUnderTest}`, () => {
  it.each(cells)('%s as %s', async (_label, role, row) => {
    const victim = await registerAndLogin(app, { name: 'Victim' });
    const cell: Cell = { self: await caller(role), victim };
    const victimBefore = await app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(victim.accessToken),
    });

    const res = await app.inject({
      method: row.method,
      url: row.url(cell),
      headers: cell.self ? bearer(cell.self.accessToken) : {},
      ...(row.payload ? { payload: row.payload(cell) } : {}),
    });
    const expected = row.expect[role];
    expect(res.statusCode, res.body).toBe(expected);

    if (expected >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const code =
        expected === 401 && (role === 'anonymous' || role === 'revoked')
          ? CODE_FOR_401[role]
          : (CODE_FOR_STATUS[expected] ?? row.code);
      expect(res.json<{ code: string }>().code).toBe(code);
      if (expected === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
      // A refused request changed nothing about the victim and left its session alone.
      const victimAfter = await app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: bearer(victim.accessToken),
      });
      expect(victimAfter.statusCode).toBe(200);
      expect(victimAfter.json()).toEqual(victimBefore.json());
    }
  });

  it.each(MATRIX.filter((row) => row.method === 'GET').map((row) => [label(row), row] as const))(
    'HEAD %s is guarded like GET',
    async (_label, row) => {
      const victim = await registerAndLogin(app);
      const res = await app.inject({ method: 'HEAD', url: row.url({ self: undefined, victim }) });
      expect(res.statusCode).toBe(401);
      expect(res.body).toBe('');
    },
  );

  it.each([
    ['/api/users/me', {}],
    ['/api/users/me', { 'api-version': '1' }],
    ['/api/users', { 'api-version': 'v1' }],
    ['/api/auth/sessions', {}],
  ])('the unversioned alias %s %j is guarded too', async (url, headers) => {
    const res = await app.inject({ method: 'GET', url, headers });
    expect(res.statusCode).toBe(401);
    expect(res.json<{ code: string }>().code).toBe('authentication_required');
  });

  it('lets anonymous callers reach the public routes (they are public on purpose)', async () => {
    const index = await app.inject({ method: 'GET', url: '/api/v1' });
    expect(index.statusCode).toBe(200);
    const email = uniqueEmail('public');
    const register = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email, password: STRONG_PASSWORD, name: 'Public' },
    });
    expect(register.statusCode).toBe(201);
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password: STRONG_PASSWORD },
    });
    expect(login.statusCode).toBe(200);
    const refresh = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: login.json<{ refreshToken: string }>().refreshToken },
    });
    expect(refresh.statusCode).toBe(200);
  });
});

/** `METHOD /path` for every operation under /api/v1 in the OpenAPI document. */
async function documentedRoutes(): Promise<Set<string>> {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  const doc = res.json<{ paths: Record<string, Record<string, unknown>> }>();
  const routes = new Set<string>();
  for (const [path, operations] of Object.entries(doc.paths)) {
    if (path !== '/api/v1' && !path.startsWith('/api/v1/')) continue;
    for (const method of Object.keys(operations)) routes.add(`${method.toUpperCase()} ${path}`);
  }
  return routes;
}

/**
 * `METHOD /path` for every route Fastify has registered under /api/v1, read from its route tree.
 * Catches a route hidden from the OpenAPI document (`schema.hide`). HEAD is Fastify's automatic
 * twin of GET and is checked above.
 */
function registeredRoutes(): Set<string> {
  const routes = new Set<string>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + match[2]!;
    stack[depth] = path;
    if (path !== '/api/v1' && !path.startsWith('/api/v1/')) continue;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method === '' || method === 'HEAD' || method === 'OPTIONS') continue;
      routes.add(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}

describe('matrix coverage', () => {
  const inMatrix = new Set(MATRIX.map((row) => `${row.method} ${row.path}`));

  it('covers every guarded route of the OpenAPI document under /api/v1', async () => {
    const documented = await documentedRoutes();
    expect(documented.size).toBeGreaterThan(PUBLIC.size);
    const uncovered = [...documented].filter((r) => !PUBLIC.has(r) && !inMatrix.has(r));
    expect(uncovered, 'add these routes to MATRIX (or, if public on purpose, to PUBLIC)').toEqual(
      [],
    );
  });

  it('covers every route Fastify registered under /api/v1, documented or not', async () => {
    const registered = registeredRoutes();
    // The parser must have understood the route tree: it sees the routes we know of.
    for (const known of [
      'POST /api/v1/auth/logout-all',
      'DELETE /api/v1/users/{id}',
      'GET /api/v1',
    ])
      expect(registered).toContain(known);
    const uncovered = [...registered].filter((r) => !PUBLIC.has(r) && !inMatrix.has(r));
    expect(uncovered, 'add these routes to MATRIX (or, if public on purpose, to PUBLIC)').toEqual(
      [],
    );
    expect([...registered].sort()).toEqual([...(await documentedRoutes())].sort());
  });

  it('lists no route that does not exist, so the matrix cannot rot', async () => {
    const documented = await documentedRoutes();
    for (const route of [...inMatrix, ...PUBLIC]) expect(documented).toContain(route);
  });

  it('marks every matrix route as needing a bearer token in the OpenAPI document', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = res.json<{
      paths: Record<string, Record<string, { security?: unknown }>>;
    }>();
    for (const route of inMatrix) {
      const [method, path] = route.split(' ') as [string, string];
      expect(doc.paths[path]?.[method.toLowerCase()]?.security, route).toEqual([{ bearer: [] }]);
    }
  });
});
