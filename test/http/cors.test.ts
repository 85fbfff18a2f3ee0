import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

const APP_ORIGIN = 'https://app.example.com';

describe('CORS with an allow-list', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      cors: { origins: [APP_ORIGIN, 'http://localhost:5173'], credentials: true },
    });
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('allows a listed origin, with credentials', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1',
      headers: { origin: APP_ORIGIN },
    });
    expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(String(res.headers.vary)).toMatch(/Origin/i);
    expect(String(res.headers['access-control-expose-headers'])).toContain('x-request-id');
  });

  it('lets a listed origin read the authentication challenge of a 401', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { origin: APP_ORIGIN, authorization: 'Bearer not.a.token' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(String(res.headers['access-control-expose-headers']).split(/, */)).toContain(
      'www-authenticate',
    );
  });

  it.each([
    ['an unlisted origin', 'https://evil.example'],
    ['a look-alike suffix', 'https://app.example.com.evil.example'],
    ['a look-alike prefix', 'https://evilapp.example.com'],
    ['another scheme', 'http://app.example.com'],
    ['the null origin', 'null'],
  ])('gives %s no CORS grant', async (_label, origin) => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1', headers: { origin } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('answers a preflight from a listed origin', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/examples',
      headers: {
        origin: APP_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(res.headers['access-control-allow-headers'])).toContain('authorization');
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('answers a preflight without Access-Control-Request-Method with a bad_request problem', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/users/me',
      headers: { origin: APP_ORIGIN },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'bad_request',
      requestId: res.headers['x-request-id'],
    });
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  // @fastify/cors treats an empty header as a missing one and answered it in text/plain.
  it('answers a preflight with an empty Access-Control-Request-Method with a bad_request problem', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/examples',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': '' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'bad_request',
      requestId: res.headers['x-request-id'],
    });
  });

  it('gives a preflight from an unlisted origin no grant, and a 403 that says why', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/examples',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
    // Not the router's 405 "this resource answers GET, …": the method is not the problem.
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({
      code: 'forbidden',
      detail:
        'This origin may not call the API from a browser: it is not one of the allowed origins (cors.origins).',
    });
    expect(res.headers.allow).toBeUndefined();
  });

  it('leaves an OPTIONS request that is not a preflight to the router', async () => {
    for (const headers of [{}, { origin: 'https://evil.example' }]) {
      const res = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/examples', headers });
      expect(res.statusCode).toBe(405);
      expect(res.json()).toMatchObject({ code: 'method_not_allowed' });
    }
  });
});

describe('CORS defaults', () => {
  it('grants no origin at all', async () => {
    const t = await buildTestApp();
    try {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1',
        headers: { origin: APP_ORIGIN },
      });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.app.close();
    }
  });

  it('sends * without credentials when configured for any origin', async () => {
    const t = await buildTestApp({ cors: { origins: ['*'] } });
    try {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1',
        headers: { origin: 'https://any.example' },
      });
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      // Any origin: an incomplete preflight (here: no Origin at all) is still a problem document.
      for (const headers of [
        {},
        { origin: 'https://any.example' },
        { origin: '', 'access-control-request-method': 'GET' },
        { origin: 'https://any.example', 'access-control-request-method': '' },
      ]) {
        const preflight = await t.app.inject({ method: 'OPTIONS', url: '/api/v1', headers });
        expect(preflight.statusCode).toBe(400);
        expect(preflight.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(preflight.json().code).toBe('bad_request');
      }
    } finally {
      await t.app.close();
    }
  });

  it('listed origins without credentials get no credentials header', async () => {
    const t = await buildTestApp({ cors: { origins: [APP_ORIGIN] } });
    try {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1',
        headers: { origin: APP_ORIGIN },
      });
      expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await t.app.close();
    }
  });
});
