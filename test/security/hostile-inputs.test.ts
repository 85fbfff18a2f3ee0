import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { expectNoLeak } from '../helpers/leaks.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

const hostileBodies: [string, string][] = [
  ['SQL injection strings', JSON.stringify({ name: "' OR 1=1; DROP TABLE users; --" })],
  ['a NoSQL operator object', JSON.stringify({ name: { $ne: null } })],
  ['a huge number', '{"name":"x","count":1e999999}'],
  ['a negative zero and exponent', '{"name":"x","count":-0e-0}'],
  ['lone surrogates', '{"name":"\\ud800\\udfff\\ud800"}'],
  ['NUL bytes', '{"name":"a\\u0000b"}'],
  ['a top-level array', '[{"name":"x"}]'],
  ['a top-level string', '"name"'],
  ['a top-level null', 'null'],
  ['duplicate keys', '{"name":"x","name":{"__proto__":{}}}'],
  ['trailing garbage', '{"name":"x"} {"name":"y"}'],
  ['a BOM', '\ufeff{"name":"x"}'],
  ['deeply nested objects', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)],
  [
    'a wide object',
    JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))),
  ],
  ['invalid UTF-8 escapes', '{"name":"\\x41"}'],
  ['a script tag', JSON.stringify({ name: '<script>alert(1)</script>' })],
];

describe('hostile bodies', () => {
  it.each(hostileBodies)(
    'handles %s with a clean 4xx or success, never a 5xx',
    async (_label, payload) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/examples',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, res.body).toBeLessThan(500);
      expectNoLeak(res.body);
      if (res.statusCode >= 400) {
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json().code).toEqual(expect.any(String));
      }
    },
  );

  it('reflects no markup back as HTML', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/examples',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: '<img src=x>' }),
    });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('hostile URLs and headers', () => {
  it.each([
    '/../../etc/passwd',
    '/api/v1/%2e%2e/%2e%2e/etc/passwd',
    '/api/v1/examples%00.json',
    '/api/v1/%E0%A4%A',
    '/api/v1/examples?limit=%',
    '/api/v1/examples?limit[]=1&limit[]=2',
    '/api/v1/examples?__proto__[x]=1',
    `/api/v1/${'a'.repeat(4000)}`,
    '/api/v1/examples?limit=1e3',
    '//evil.example/%2F..',
  ])('answers %s with a clean problem', async (url) => {
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expectNoLeak(res.body);
  });

  it('ignores X-Forwarded-For from an untrusted peer', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: {
        'x-forwarded-for': '1.2.3.4',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('keeps answering after every attack above', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });
});
