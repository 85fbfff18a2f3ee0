import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_MASTER_KEY } from '../helpers/app.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { STRONG_PASSWORD, uniqueEmail } from '../helpers/identity.js';
import { BIN, Spawned } from '../helpers/process.js';
import {
  deletePrefix,
  REDIS_SKIP_REASON,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from '../helpers/redis.js';

/*
 * Three instances of the built service (npm test builds first), as separate processes on their
 * own loopback ports, sharing one PostgreSQL schema and one Redis: what a load balancer sees.
 * Runs in the postgres project (DATABASE_URL set); fails when REDIS_URL is set but down.
 */
const GENERAL_LIMIT = 40;

describe.skipIf(!process.env.DATABASE_URL)(
  'three instances on one PostgreSQL and one Redis',
  () => {
    if (!redisUrl) {
      it.skip(REDIS_SKIP_REASON, () => undefined);
      return;
    }
    const prefix = uniquePrefix();
    const instances: Spawned[] = [];
    const urls: string[] = [];
    let testDb: TestDb;

    async function start(env: Record<string, string>): Promise<string> {
      const server = new Spawned([BIN, 'serve'], env);
      instances.push(server);
      const [, url] = await server.waitFor(/"url":"(http:[^"]+)"/, 30_000);
      return url!;
    }

    beforeAll(async () => {
      const redis = await requireRedis();
      testDb = await createTestDb();
      const env = {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        DATABASE_URL: testDb.url!,
        REDIS_URL: redis,
        BULWARK_REDIS_KEY_PREFIX: prefix,
        BULWARK_KEYS_MASTER_KEY: TEST_MASTER_KEY,
        BULWARK_LOG_LEVEL: 'info',
        BULWARK_PASSWORDS_ARGON2_MEMORY_KIB: '1024',
        BULWARK_PASSWORDS_ARGON2_ITERATIONS: '1',
        BULWARK_RATE_LIMIT_GENERAL_POINTS: String(GENERAL_LIMIT),
      };
      // The first instance migrates and creates the signing key; the others then find both.
      urls.push(await start(env));
      urls.push(...(await Promise.all([start(env), start(env)])));
    }, 90_000);

    afterAll(async () => {
      for (const server of instances) {
        server.kill();
        await server.exited;
      }
      await testDb?.cleanup();
      if (redisUrl) await deletePrefix(redisUrl, prefix);
    });

    const call = (base: string, method: string, path: string, body?: unknown, token?: string) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    async function registerAndLogin(at: string): Promise<string> {
      const email = uniqueEmail('multi');
      const reg = await call(at, 'POST', '/api/v1/auth/register', {
        email,
        password: STRONG_PASSWORD,
        name: 'Multi Instance',
      });
      expect(reg.status).toBe(201);
      return login(at, email);
    }
    async function login(at: string, email?: string): Promise<string> {
      const res = await call(at, 'POST', '/api/v1/auth/login', {
        email,
        password: STRONG_PASSWORD,
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { accessToken: string }).accessToken;
    }
    /** Polls until the token is refused; returns how long that took. */
    async function msUntilRefused(base: string, token: string): Promise<number> {
      const started = performance.now();
      for (;;) {
        const res = await call(base, 'GET', '/api/v1/users/me', undefined, token);
        if (res.status === 401) return performance.now() - started;
        expect(res.status).toBe(200);
        if (performance.now() - started > 3_000) return Number.POSITIVE_INFINITY;
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    it('ends a logged-out session on every instance within 1 s', async () => {
      const [a, b, c] = urls as [string, string, string];
      const token = await registerAndLogin(a);
      // B and C have now cached the session as active.
      for (const base of [b, c]) {
        expect((await call(base, 'GET', '/api/v1/users/me', undefined, token)).status).toBe(200);
      }
      expect((await call(a, 'POST', '/api/v1/auth/logout', undefined, token)).status).toBe(204);
      const [onB, onC] = await Promise.all([msUntilRefused(b, token), msUntilRefused(c, token)]);
      expect(onB).toBeLessThan(1_000);
      expect(onC).toBeLessThan(1_000);
    });

    it('ends the other sessions on every instance after a password change', async () => {
      const [a, b, c] = urls as [string, string, string];
      const email = uniqueEmail('pw');
      await call(a, 'POST', '/api/v1/auth/register', {
        email,
        password: STRONG_PASSWORD,
        name: 'P W',
      });
      const current = await login(a, email);
      const other = await login(b, email);
      expect((await call(c, 'GET', '/api/v1/users/me', undefined, other)).status).toBe(200);
      const changed = await call(
        a,
        'POST',
        '/api/v1/auth/password',
        { currentPassword: STRONG_PASSWORD, newPassword: 'an entirely new passphrase 77' },
        current,
      );
      expect(changed.status).toBe(204);
      expect(await msUntilRefused(c, other)).toBeLessThan(1_000);
      expect((await call(b, 'GET', '/api/v1/users/me', undefined, current)).status).toBe(200);
    });

    it('holds a limit globally, not once per instance', async () => {
      const token = await registerAndLogin(urls[0]!);
      const statuses: number[] = [];
      for (let i = 0; i < GENERAL_LIMIT + 15; i++) {
        const res = await call(urls[i % 3]!, 'GET', '/api/v1/users/me', undefined, token);
        statuses.push(res.status);
        if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(GENERAL_LIMIT);
      expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    });
  },
);
