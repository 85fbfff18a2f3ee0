import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { LogCapture, testConfigInput } from '../helpers/app.js';
import { createMigratedTestDb } from '../helpers/db.js';
import { bearer, createUserAndLogin } from '../helpers/identity.js';

/* app.authorize as a library user writes it: alone, before authenticate, or with a typo. */

describe('app.authorize on your own routes', () => {
  let app: BulwarkApp;
  const logs = new LogCapture();
  let reader: string;
  let outsider: string;

  beforeAll(async () => {
    const testDb = await createMigratedTestDb();
    app = await buildApp(
      createConfig(
        testConfigInput(testDb, {
          access: {
            roles: {
              admin: ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
              user: [],
              reader: ['notes:read'],
            },
          },
        }),
      ),
      { logger: logs },
    );
    app.addHook('onClose', () => testDb.cleanup());
    app.get('/api/v1/alone', { preHandler: app.authorize('notes:read') }, () => ({ ok: 1 }));
    app.get(
      '/api/v1/reversed',
      { preHandler: [app.authorize('notes:read'), app.authenticate] },
      () => ({ ok: 2 }),
    );
    app.get(
      '/api/v1/typo',
      { preHandler: [app.authenticate, app.authorize('notes:raed')] },
      () => ({ ok: 3 }),
    );
    app.get(
      '/api/v1/typo-again',
      { preHandler: [app.authenticate, app.authorize('notes:raed')] },
      () => ({ ok: 4 }),
    );
    await app.ready();
    reader = (await createUserAndLogin(app, 'reader')).accessToken;
    outsider = (await createUserAndLogin(app, 'user')).accessToken;
  });
  afterAll(() => app.close());

  const get = (url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers });

  it('authenticates first when authenticate has not run: anonymous callers get 401, not 500', async () => {
    for (const url of ['/api/v1/alone', '/api/v1/reversed']) {
      const anonymous = await get(url);
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ code: 'authentication_required' });
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      // One signature character changed, one that carries six whole bits: "AAAA" written over
      // the last four gave the token back unchanged whenever it ended in "AAAA".
      const changed = reader.at(-3) === 'A' ? 'B' : 'A';
      const forged = await get(url, bearer(`${reader.slice(0, -3)}${changed}${reader.slice(-2)}`));
      expect(forged.statusCode).toBe(401);
      expect(forged.json()).toMatchObject({ code: 'invalid_token' });
    }
  });

  it('lets the permission holder in and refuses the others with 403, in either order', async () => {
    expect((await get('/api/v1/alone', bearer(reader))).json()).toEqual({ ok: 1 });
    expect((await get('/api/v1/reversed', bearer(reader))).json()).toEqual({ ok: 2 });
    for (const url of ['/api/v1/alone', '/api/v1/reversed']) {
      const res = await get(url, bearer(outsider));
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'forbidden' });
    }
  });

  it('warns once at start about a permission no role grants', async () => {
    const warnings = logs.lines.filter(
      (line) => line.level === 'warn' && line.permission === 'notes:raed',
    );
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.msg)).toContain('no role in access.roles grants "notes:raed"');
    expect(logs.lines.some((line) => line.permission === 'notes:read')).toBe(false);
    expect((await get('/api/v1/typo', bearer(reader))).statusCode).toBe(403);
  });
});
