import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SECURITY_HEADERS } from '../../src/http/security-headers.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

const EXPECTED = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-xss-protection': '0',
  'cache-control': 'no-store',
};

describe('security headers', () => {
  it('exports exactly the documented set', () => {
    expect(API_SECURITY_HEADERS).toEqual(EXPECTED);
  });

  it.each([
    ['a 200', 'GET', '/health/live'],
    ['an API route', 'GET', '/api/v1'],
    ['a 404', 'GET', '/missing'],
    ['a 405', 'POST', '/health/live'],
    ['a 400', 'GET', '/api/v1/examples?x=1'],
    ['a 500', 'GET', '/api/v1/examples/crash'],
  ])('are on %s', async (_label, method, url) => {
    const res = await t.app.inject({ method: method as 'GET', url });
    for (const [name, value] of Object.entries(EXPECTED))
      expect(res.headers[name], name).toBe(value);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers.server).toBeUndefined();
  });

  it('gives /docs a CSP that lets the page load its own assets and nothing else', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-eval|https:|\*/);
    expect(res.headers['x-frame-options']).toBe('DENY');
  });
});
