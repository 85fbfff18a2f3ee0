import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { LogCapture, testConfigInput } from '../helpers/app.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { bearer, registerAndLogin, STRONG_PASSWORD, type LoggedIn } from '../helpers/identity.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/*
 * PostgreSQL goes away under a running instance (here: the TCP proxy between them is cut) and
 * comes back. Requests that need it get 503 problem+json with Retry-After at once — a condition
 * to retry, like a Redis outage under failClosed, not a 500 "bug" — and work again afterwards
 * without a restart. (SQLite's equivalent, a file locked beyond the busy timeout, is covered by
 * test/db/unavailable.test.ts.)
 */
describe.skipIf(dialectUnderTest !== 'postgres')(
  'PostgreSQL outage under a running instance',
  () => {
    let testDb: TestDb;
    let proxy: TcpProxy;
    let app: BulwarkApp;
    const logs = new LogCapture();
    let user: LoggedIn;

    beforeAll(async () => {
      testDb = await createMigratedTestDb();
      const target = new URL(testDb.url ?? '');
      proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
      const proxied = new URL(target);
      proxied.host = `127.0.0.1:${proxy.port}`;
      const config = createConfig(testConfigInput(testDb, { database: { url: proxied.href } }));
      app = await buildApp(config, { logger: logs });
      await app.ready();
      user = await registerAndLogin(app);
    });
    afterAll(async () => {
      await app?.close();
      await proxy?.close();
      await testDb?.cleanup();
    });

    it('answers 503 service_unavailable with Retry-After while it is down, and recovers', async () => {
      await proxy.cut();
      try {
        const started = Date.now();
        for (const request of [
          { method: 'GET' as const, url: '/api/v1/users/me', headers: bearer(user.accessToken) },
          {
            method: 'POST' as const,
            url: '/api/v1/auth/login',
            payload: { email: user.email, password: STRONG_PASSWORD },
          },
        ]) {
          const res = await app.inject(request);
          expect(res.statusCode, request.url).toBe(503);
          expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
          expect(res.headers['retry-after']).toBe('5');
          expect(res.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
          // The driver's words (address, port, errno) stay in the log.
          expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect|terminated/i);
        }
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(logs.raw.join('\n')).toContain('ECONNREFUSED');

        const ready = await app.inject({ method: 'GET', url: '/health/ready' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toMatchObject({ checks: { database: { status: 'fail' } } });
      } finally {
        await proxy.restore();
      }

      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: bearer(user.accessToken),
      });
      expect(res.statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    });

    it('keeps the security events of a short outage: the audit writer retries until it is over', async () => {
      await proxy.cut();
      const requestIds = ['blip-1', 'blip-2', 'blip-3'];
      try {
        for (const requestId of requestIds) {
          app.services.events.emit({ type: 'access.denied', outcome: 'denied', requestId });
        }
        await new Promise((r) => setTimeout(r, 400));
      } finally {
        await proxy.restore();
      }
      const stored = async () =>
        (
          await testDb.db.kysely
            .selectFrom('audit_events')
            .select('request_id')
            .where('request_id', 'in', requestIds)
            .execute()
        ).map((r) => r.request_id);
      const deadline = Date.now() + 8_000;
      while ((await stored()).length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await stored()).sort()).toEqual(requestIds);
      expect(logs.raw.join('\n')).not.toContain('AUDIT WRITE FAILED');
    });
  },
);
