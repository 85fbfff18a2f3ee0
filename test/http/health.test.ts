import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

describe('health', () => {
  it('answers /health/live', async () => {
    t = await buildTestApp();
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('reports each dependency on /health/ready', async () => {
    t = await buildTestApp();
    t.app.readiness.register('cache', () => undefined);
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', checks: { cache: { status: 'ok' } } });
  });

  it('answers 503 naming the dependency that is down, without its error text', async () => {
    t = await buildTestApp();
    t.app.readiness.register('cache', () => undefined);
    t.app.readiness.register('database', () =>
      Promise.reject(new Error('password authentication failed for user "x"')),
    );
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'unavailable',
      checks: { cache: { status: 'ok' }, database: { status: 'fail' } },
    });
    expect(res.body).not.toContain('password');
  });

  it('answers 503 while draining for shutdown', async () => {
    t = await buildTestApp();
    t.app.readiness.drain();
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(503);
  });
});
