import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConfig } from '../../src/config/index.js';
import { buildApp } from '../../src/app.js';
import { buildTestApp, LogCapture, testConfigInput, type TestApp } from '../helpers/app.js';
import { createMigratedTestDb } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
} from '../helpers/identity.js';

const securityEvents = (t: TestApp, type: string): Record<string, unknown>[] =>
  t.logs.lines
    .map((l) => l.securityEvent as Record<string, unknown> | undefined)
    .filter((e): e is Record<string, unknown> => e?.type === type);

describe('rate limits (memory store)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      rateLimit: { general: { points: 5, durationSeconds: 60 }, auth: { points: 3 } },
      server: { trustProxy: ['10.0.0.1'] },
    });
  });
  afterAll(() => t.app.close());

  const get = (remoteAddress: string, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'GET', url: '/api/v1/examples', remoteAddress, headers });

  it('sends RateLimit-* headers and answers 429 rate_limited with Retry-After past the limit', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await get('192.0.2.1');
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe('5');
      expect(res.headers['ratelimit-remaining']).toBe(String(5 - i));
      expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
      expect(Number(res.headers['ratelimit-reset'])).toBeLessThanOrEqual(60);
    }
    const res = await get('192.0.2.1');
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'rate_limited', status: 429 });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.headers['ratelimit-remaining']).toBe('0');
    const event = securityEvents(t, 'rate_limit.exceeded').at(-1);
    expect(event).toMatchObject({ outcome: 'denied', ip: '192.0.2.1' });
    expect(event?.details).toMatchObject({ policy: 'general', scope: 'client' });
  });

  it('counts other clients separately, IPv6 by /64', async () => {
    expect((await get('192.0.2.2')).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await get(`2001:db8:5:6::${i + 1}`)).statusCode).toBe(200);
    // Another address of the same /64 shares the budget; another /64 does not.
    expect((await get('2001:db8:5:6:ffff::9')).statusCode).toBe(429);
    expect((await get('2001:db8:5:7::1')).statusCode).toBe(200);
  });

  it('ignores X-Forwarded-For from an untrusted peer', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await get('192.0.2.3', { 'x-forwarded-for': `198.51.100.${i}` });
      expect(res.statusCode).toBe(200);
    }
    expect((await get('192.0.2.3', { 'x-forwarded-for': '198.51.100.99' })).statusCode).toBe(429);
  });

  it('behind a trusted proxy, keys by the right-most untrusted X-Forwarded-For address', async () => {
    // The client may prepend anything; only the address the proxy appended counts.
    for (let i = 0; i < 5; i++) {
      const res = await get('10.0.0.1', { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.7` });
      expect(res.statusCode).toBe(200);
    }
    expect((await get('10.0.0.1', { 'x-forwarded-for': '198.51.100.7' })).statusCode).toBe(429);
    expect((await get('10.0.0.1', { 'x-forwarded-for': '198.51.100.8' })).statusCode).toBe(200);
  });

  // Some proxies (Azure Application Gateway) append the client's port; every client behind one
  // was keyed as "ip:unknown", so one budget was shared by all (and one client could spend it).
  it('behind a trusted proxy that appends ports, keys by the address without the port', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await get('10.0.0.1', { 'x-forwarded-for': `198.51.100.20:${40000 + i}` });
      expect(res.statusCode).toBe(200);
    }
    expect((await get('10.0.0.1', { 'x-forwarded-for': '198.51.100.20:41000' })).statusCode).toBe(
      429,
    );
    expect((await get('10.0.0.1', { 'x-forwarded-for': '198.51.100.20' })).statusCode).toBe(429);
    expect((await get('10.0.0.1', { 'x-forwarded-for': '198.51.100.21:40000' })).statusCode).toBe(
      200,
    );
    for (let i = 0; i < 5; i++) {
      const res = await get('10.0.0.1', { 'x-forwarded-for': `[2001:db8:9:9::${i + 1}]:443` });
      expect(res.statusCode).toBe(200);
    }
    expect((await get('10.0.0.1', { 'x-forwarded-for': '2001:db8:9:9::99' })).statusCode).toBe(429);
    expect((await get('10.0.0.1', { 'x-forwarded-for': '[2001:db8:9:a::1]:443' })).statusCode).toBe(
      200,
    );
  });

  it('applies the strict auth policy on top of the general one', async () => {
    const login = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: '192.0.2.4',
        payload: { email: uniqueEmail(), password: 'wrong password 123' },
      });
    for (let i = 1; i <= 3; i++) {
      const res = await login();
      expect(res.statusCode).toBe(401);
      expect(res.headers['ratelimit-limit']).toBe('3');
    }
    const res = await login();
    expect(res.statusCode).toBe(429);
    expect(securityEvents(t, 'rate_limit.exceeded').at(-1)?.details).toMatchObject({
      policy: 'auth',
      route: '/api/v1/auth/login',
    });
  });

  it('never limits health probes', async () => {
    for (let i = 0; i < 8; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/health/live',
        remoteAddress: '192.0.2.5',
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
  });

  it('limits unknown paths too (scanners)', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/nope/${i}`,
        remoteAddress: '192.0.2.6',
      });
      expect(res.statusCode).toBe(404);
    }
    const res = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: '192.0.2.6' });
    expect(res.statusCode).toBe(429);
  });
});

describe('a flood of refused requests', () => {
  it('is stored as its first refusal and one summary, while the log and metrics count each', async () => {
    const t = await buildTestApp({ rateLimit: { general: { points: 2, durationSeconds: 60 } } });
    try {
      const get = () =>
        t.app.inject({ method: 'GET', url: '/api/v1/examples', remoteAddress: '192.0.2.77' });
      for (let i = 0; i < 2; i++) expect((await get()).statusCode).toBe(200);
      const FLOOD = 200;
      for (let i = 0; i < FLOOD; i++) expect((await get()).statusCode).toBe(429);
      expect(securityEvents(t, 'rate_limit.exceeded')).toHaveLength(FLOOD);
      const metrics = await t.app.services.metrics.registry.getSingleMetricAsString(
        'bulwark_rate_limited_requests_total',
      );
      expect(metrics).toMatch(new RegExp(`^bulwark_rate_limited_requests_total ${FLOOD}$`, 'm'));

      await t.app.services.auditSink.flush();
      const rows = (await t.app.services.auditLog.list({ limit: 1_000 }))
        .filter((row) => row.type === 'rate_limit.exceeded')
        .reverse();
      expect(rows).toHaveLength(2);
      expect(rows.map((row) => row.ip)).toEqual(['192.0.2.77', '192.0.2.77']);
      expect(JSON.parse(rows[0]!.details)).not.toHaveProperty('repeats');
      expect(JSON.parse(rows[1]!.details)).toMatchObject({
        policy: 'general',
        repeats: FLOOD - 1,
        windowSeconds: 60,
      });
    } finally {
      await t.app.close();
    }
  });
});

describe('per-user limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ rateLimit: { general: { points: 6, durationSeconds: 60 } } });
  });
  afterAll(() => t.app.close());

  it('keys authenticated requests by user, whatever the address', async () => {
    // register + login spend 2 of the 6 points of 127.0.0.1.
    const user = await registerAndLogin(t.app);
    const me = (remoteAddress: string, headers = bearer(user.accessToken)) =>
      t.app.inject({ method: 'GET', url: '/api/v1/users/me', remoteAddress, headers });
    for (let i = 0; i < 6; i++) {
      const res = await me(`192.0.2.${10 + i}`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-remaining']).toBe(String(5 - i));
    }
    const res = await me('192.0.2.99');
    expect(res.statusCode).toBe(429);
    expect(securityEvents(t, 'rate_limit.exceeded').at(-1)).toMatchObject({
      actorId: user.id,
      details: { scope: 'user' },
    });
    // The client address still has budget of its own, so anonymous requests from it pass.
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/examples', remoteAddress: '192.0.2.99' }))
        .statusCode,
    ).toBe(200);
  });

  // docs/security.md "Who is counted": the token is verified once per request, in the rate-limit
  // step, and authenticate reuses the result.
  it('verifies the token once per request, shared by the rate limit and authenticate', async () => {
    const user = await registerAndLogin(t.app);
    const tokens = t.app.services.accessTokens;
    const verify = vi.spyOn(tokens, 'verify');
    const cached = vi.spyOn(tokens, 'verifyCached');
    const me = async (scheme: string) => {
      verify.mockClear();
      cached.mockClear();
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        remoteAddress: '192.0.2.51',
        headers: { authorization: `${scheme} ${user.accessToken}` },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['ratelimit-remaining']).toBeDefined();
    };
    try {
      // A token not verified before: one full verification (which fills the cache).
      await me('Bearer');
      expect(verify).toHaveBeenCalledTimes(1);
      // Verified before: one cache lookup, no verification.
      await me('Bearer');
      expect([verify.mock.calls.length, cached.mock.calls.length]).toEqual([0, 1]);
      // Another spelling of the scheme takes the full path, once.
      await me('bearer');
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
      cached.mockRestore();
    }
  });

  it('counts a forged token against the client address, and authenticate still refuses it', async () => {
    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      remoteAddress: '192.0.2.50',
      headers: bearer(forged),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['ratelimit-remaining']).toBe('5');
  });
});

describe('tokens of ended sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ rateLimit: { general: { points: 6, durationSeconds: 60 } } });
  });
  afterAll(() => t.app.close());

  const me = (accessToken: string, remoteAddress: string) =>
    t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      remoteAddress,
      headers: bearer(accessToken),
    });

  it("count against the sender's address, not the user's budget, which a revoked token cannot spend", async () => {
    // The owner signs out (a lost laptop, a token seen in a log): that token is refused from now
    // on, and whoever still holds it must not be able to lock the owner out of the API either.
    const user = await registerAndLogin(t.app);
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      remoteAddress: '192.0.2.1',
      headers: bearer(user.accessToken),
    });
    expect(logout.statusCode).toBe(204);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++)
      statuses.push((await me(user.accessToken, '198.51.100.7')).statusCode);
    // Counted against 198.51.100.7: refused as invalid, then limited there.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);

    const again = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress: '203.0.113.9',
      payload: { email: user.email, password: STRONG_PASSWORD },
    });
    expect(again.statusCode, again.body).toBe(200);
    const fresh = again.json<{ accessToken: string }>().accessToken;
    const res = await me(fresh, '203.0.113.9');
    expect(res.statusCode, res.body).toBe(200);
    // The user's budget is spent only by the owner: the logout and this request.
    expect(res.headers['ratelimit-remaining']).toBe('4');
  });

  it('are known ended on an instance that never saw the end (the database is asked)', async () => {
    const user = await registerAndLogin(t.app);
    await t.app.services.sessions.end({ id: user.sessionId, userId: user.id }, 'revoked', {});
    // An instance that never saw the end: its memory knows nothing of the session.
    t.app.services.sessionState.forgetActive();
    for (let i = 0; i < 6; i++) await me(user.accessToken, '198.51.100.8');
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress: '203.0.113.10',
      payload: { email: user.email, password: STRONG_PASSWORD },
    });
    const res = await me(login.json<{ accessToken: string }>().accessToken, '203.0.113.10');
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('routes that take no access token', () => {
  const AUTH_POINTS = 7;
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ rateLimit: { auth: { points: AUTH_POINTS } } });
  });
  afterAll(() => t.app.close());

  it('count against the client address even when a valid bearer token comes along', async () => {
    // A bearer token means nothing to login, register or refresh. Keyed by its user, every
    // account a client holds (and registering makes more) was a fresh auth budget from one address.
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) tokens.push((await registerAndLogin(t.app)).accessToken);
    const attempt = (url: string, payload: Record<string, unknown>, token?: string) =>
      t.app.inject({
        method: 'POST',
        url,
        remoteAddress: '198.51.100.20',
        payload,
        headers: token === undefined ? {} : bearer(token),
      });
    const login = (token?: string) =>
      attempt(
        '/api/v1/auth/login',
        { email: uniqueEmail(), password: 'wrong password 123' },
        token,
      );
    for (let i = 0; i < AUTH_POINTS; i++) expect((await login()).statusCode).toBe(401);
    expect((await login()).statusCode).toBe(429);
    for (const token of tokens) {
      expect((await login(token)).statusCode).toBe(429);
      expect(
        (await attempt('/api/v1/auth/refresh', { refreshToken: 'bwr_x' }, token)).statusCode,
      ).toBe(429);
      expect(
        (
          await attempt(
            '/api/v1/auth/register',
            { email: uniqueEmail(), password: STRONG_PASSWORD, name: 'Spare' },
            token,
          )
        ).statusCode,
      ).toBe(429);
    }
    // Routes that do take the token still count it against its user, from any address.
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      remoteAddress: '198.51.100.20',
      headers: bearer(tokens[0]!),
    });
    expect(me.statusCode).toBe(200);
  });
});

// A token chose the bucket on every route, so anyone with an account escaped the per-client
// limits of the anonymous routes (register, login, forgot-password …): each account minted gave
// a fresh budget. Only a route that authenticates counts against its user.
describe('a bearer token on a route that does not authenticate', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      rateLimit: { general: { points: 6, durationSeconds: 60 }, auth: { points: 3 } },
    });
  });
  afterAll(() => t.app.close());

  it('counts against the client address, so it cannot buy a fresh budget', async () => {
    const user = await createUserAndLogin(t.app, 'user');
    const register = (headers: Record<string, string> = {}) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        remoteAddress: '192.0.2.60',
        headers,
        payload: { email: uniqueEmail(), password: STRONG_PASSWORD, name: 'Farm' },
      });
    for (let i = 0; i < 3; i++) expect((await register()).statusCode).toBe(201);
    expect((await register()).statusCode).toBe(429);
    const withToken = await register(bearer(user.accessToken));
    expect(withToken.statusCode).toBe(429);
    expect(securityEvents(t, 'rate_limit.exceeded').at(-1)).toMatchObject({
      ip: '192.0.2.60',
      details: { policy: 'auth', scope: 'client' },
    });
  });

  it('counts unknown paths against the client address too', async () => {
    const user = await createUserAndLogin(t.app, 'user');
    const scan = (headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'GET', url: '/wp-admin', remoteAddress: '192.0.2.61', headers });
    for (let i = 0; i < 6; i++) expect((await scan()).statusCode).toBe(404);
    expect((await scan(bearer(user.accessToken))).statusCode).toBe(429);
  });

  it('still counts a route that authenticates against its user', async () => {
    const user = await createUserAndLogin(t.app, 'user');
    const me = (remoteAddress: string) =>
      t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        remoteAddress,
        headers: bearer(user.accessToken),
      });
    for (let i = 0; i < 6; i++) expect((await me(`192.0.2.${70 + i}`)).statusCode).toBe(200);
    expect((await me('192.0.2.79')).statusCode).toBe(429);
  });
});

describe('rateLimit.enabled=false', () => {
  it('turns limits off with a warning at start', async () => {
    const t = await buildTestApp({
      rateLimit: { enabled: false, general: { points: 1 } },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples' });
        expect(res.statusCode).toBe(200);
        expect(res.headers['ratelimit-limit']).toBeUndefined();
      }
      expect(t.logs.raw.some((l) => l.includes('rateLimit.enabled is false'))).toBe(true);
    } finally {
      await t.app.close();
    }
  });
});

describe('your own policies (rateLimit.policies)', () => {
  let t: TestApp;
  beforeAll(async () => {
    const logs = new LogCapture();
    const testDb = await createMigratedTestDb();
    const config = createConfig(
      testConfigInput(testDb, {
        rateLimit: {
          auth: { points: 3 },
          policies: { 'notes-write': { points: 2, durationSeconds: 60 } },
        },
      }),
    );
    const app = await buildApp(config, { logger: logs });
    app.addHook('onClose', () => testDb.cleanup());
    app.post('/api/v1/notes', { config: { rateLimit: 'notes-write' } }, () => ({ ok: true }));
    app.post('/api/v1/shares', { config: { rateLimit: 'auth' } }, () => ({ ok: true }));
    await app.ready();
    t = { app, logs, testDb, config };
  });
  afterAll(() => t.app.close());

  const post = (url: string, remoteAddress: string) =>
    t.app.inject({ method: 'POST', url, remoteAddress });
  const login = (remoteAddress: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress,
      payload: { email: uniqueEmail(), password: 'wrong password 123' },
    });

  it('limits a route by its own policy, with its own headers, events and counters', async () => {
    for (let i = 1; i <= 2; i++) {
      const res = await post('/api/v1/notes', '192.0.2.40');
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe('2');
      expect(res.headers['ratelimit-remaining']).toBe(String(2 - i));
    }
    const res = await post('/api/v1/notes', '192.0.2.40');
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ code: 'rate_limited' });
    expect(securityEvents(t, 'rate_limit.exceeded').at(-1)?.details).toMatchObject({
      policy: 'notes-write',
      route: '/api/v1/notes',
    });
    // Its counters are its own: the same client still logs in under the auth policy.
    expect((await login('192.0.2.40')).statusCode).toBe(401);
  });

  it('keeps the built-in auth policy shared by every route that declares it', async () => {
    for (let i = 0; i < 3; i++)
      expect((await post('/api/v1/shares', '192.0.2.41')).statusCode).toBe(200);
    expect((await login('192.0.2.41')).statusCode).toBe(429);
  });

  it('refuses a route whose policy is not defined when it is registered', async () => {
    const testDb = await createMigratedTestDb();
    const app = await buildApp(createConfig(testConfigInput(testDb)), { logger: new LogCapture() });
    try {
      expect(() =>
        app.get('/api/v1/typo', { config: { rateLimit: 'notes-wirte' } }, () => ({})),
      ).toThrow(
        /config\.rateLimit is "notes-wirte", which is not a rate-limit policy.*"general", "auth"/,
      );
      expect(() =>
        app.get(
          '/api/v1/wrong-type',
          { config: { rateLimit: 5 as unknown as string } },
          () => ({}),
        ),
      ).toThrow(/config\.rateLimit is 5/);
    } finally {
      await app.close();
      await testDb.cleanup();
    }
  });

  it('refuses policies named like the built-in ones, and bad names', () => {
    expect(() =>
      createConfig({ rateLimit: { policies: { auth: { points: 1, durationSeconds: 1 } } } }),
    ).toThrow(/rateLimit\.policies.*defines "auth", which is a built-in policy/);
    expect(() =>
      createConfig({ rateLimit: { policies: { 'Bad Name': { points: 1, durationSeconds: 1 } } } }),
    ).toThrow(/rateLimit\.policies/);
    expect(() =>
      createConfig({ rateLimit: { policies: { ok: { points: 0, durationSeconds: 1 } } } }),
    ).toThrow(/rateLimit\.policies\.ok\.points/);
  });
});

// docs/security.md "Request policies" lists the routes of the strict `auth` policy; this is that
// list. A route that checks a password, a code or an e-mailed token and lost its policy would let
// one client guess at the general limit (300 a minute) instead.
describe('the routes of the auth policy', () => {
  const AUTH_POINTS = 2;
  const GENERAL_POINTS = 1_000;
  const outbox = mkdtempSync(join(tmpdir(), 'bulwark-policy-outbox-'));
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      rateLimit: {
        auth: { points: AUTH_POINTS },
        general: { points: GENERAL_POINTS, durationSeconds: 60 },
      },
      email: {
        outboxDir: outbox,
        passwordResetUrl: 'https://app.example.com/reset-password',
        verifyEmailUrl: 'https://app.example.com/verify-email',
        changeEmailUrl: 'https://app.example.com/change-email',
      },
    });
  });
  afterAll(() => t.app.close());

  const AUTH_ROUTES = [
    'POST /api/v1/auth/register',
    'POST /api/v1/auth/login',
    'POST /api/v1/auth/refresh',
    'POST /api/v1/auth/password',
    'POST /api/v1/auth/password/forgot',
    'POST /api/v1/auth/password/reset',
    'POST /api/v1/auth/email/verify',
    'POST /api/v1/auth/email/verification',
    'POST /api/v1/auth/email/change',
    'POST /api/v1/auth/email/change/confirm',
    'POST /api/v1/auth/mfa/totp/setup',
    'POST /api/v1/auth/mfa/totp/confirm',
    'POST /api/v1/auth/mfa/disable',
    'POST /api/v1/auth/mfa/recovery-codes',
    'GET /api/v1/auth/oidc/google',
    'GET /api/v1/auth/oidc/google/callback',
    'POST /api/v1/auth/oidc/exchange',
  ];
  const GENERAL_ONLY = [
    'POST /api/v1/auth/logout',
    'POST /api/v1/auth/logout-all',
    'GET /api/v1/auth/sessions',
    'GET /api/v1/auth/mfa',
    'GET /api/v1/users/me',
    'GET /.well-known/jwks.json',
  ];

  const limitOf = async (route: string, n: number): Promise<string | undefined> => {
    const [method, url] = route.split(' ') as ['GET' | 'POST', string];
    const res = await t.app.inject({ method, url, remoteAddress: `198.51.100.${n}` });
    expect(res.statusCode, `${route}: ${res.body}`).not.toBe(429);
    return res.headers['ratelimit-limit'] as string | undefined;
  };

  it('is applied to every route that checks a password, a code or a token, and to no other', async () => {
    let n = 1;
    for (const route of AUTH_ROUTES) expect(await limitOf(route, n++), route).toBe('2');
    for (const route of GENERAL_ONLY) expect(await limitOf(route, n++), route).toBe('1000');
  });
});

// docs/security.md "Who is counted": a route authenticates when its hooks include
// `authenticate`, `authorize(…)` or `requireMfa`; each alone is enough to count its requests
// against the user, from whatever address.
describe('routes whose only hook is authorize(…) or requireMfa', () => {
  let t: TestApp;
  beforeAll(async () => {
    const logs = new LogCapture();
    const testDb = await createMigratedTestDb();
    const config = createConfig(
      testConfigInput(testDb, { rateLimit: { general: { points: 50, durationSeconds: 60 } } }),
    );
    const app = await buildApp(config, { logger: logs });
    app.addHook('onClose', () => testDb.cleanup());
    app.get('/api/v1/reports', { preHandler: app.authorize('users:read') }, () => ({ ok: true }));
    app.get('/api/v1/vault', { preHandler: app.requireMfa }, () => ({ ok: true }));
    await app.ready();
    t = { app, logs, testDb, config };
  });
  afterAll(() => t.app.close());

  it.each(['/api/v1/reports', '/api/v1/vault'])(
    'counts %s against the user, whatever the address',
    async (url) => {
      const admin = await createUserAndLogin(t.app, 'admin');
      const remaining: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await t.app.inject({
          method: 'GET',
          url,
          remoteAddress: `198.51.100.${60 + i}`,
          headers: bearer(admin.accessToken),
        });
        remaining.push(res.headers['ratelimit-remaining'] as string);
      }
      // One budget for the three addresses: the user's.
      expect(remaining).toEqual(['49', '48', '47']);
    },
  );
});
