import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request id', () => {
  it('generates a random id when none is sent', async () => {
    const a = await t.app.inject({ method: 'GET', url: '/health/live' });
    const b = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).not.toBe(a.headers['x-request-id']);
  });

  it('reuses a well-formed incoming id', async () => {
    const id = 'trace_abc-123';
    const res = await t.app.inject({
      method: 'GET',
      url: '/missing',
      headers: { 'x-request-id': id },
    });
    expect(res.headers['x-request-id']).toBe(id);
    expect(res.json().requestId).toBe(id);
  });

  it('accepts exactly 64 characters', async () => {
    const id = 'a'.repeat(64);
    const res = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': id },
    });
    expect(res.headers['x-request-id']).toBe(id);
  });

  it.each([
    ['too long', 'a'.repeat(65)],
    ['with spaces', 'abc def'],
    ['with log-injection characters', 'abc"}\\n{"level":"fatal'],
    ['with dots and slashes', '../../etc/passwd'],
    ['empty', ''],
    ['unicode', 'ıd-ünïcode'],
  ])('replaces an id %s', async (_label, id) => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': id },
    });
    expect(res.headers['x-request-id']).toMatch(UUID);
  });

  it('logs under the same id', async () => {
    const id = 'log-correlation-1';
    await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': id } });
    expect(t.logs.lines.some((l) => l.requestId === id && l.msg === 'request completed')).toBe(
      true,
    );
  });
});
