import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { listenOnLoopback, sendRaw } from '../helpers/raw-http.js';

describe('API version routing', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('routes /api/... without a header to the latest version', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/examples?limit=2' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ query: { limit: 2 } });
    expect(res.headers['api-version']).toBe('1');
  });

  it.each(['1', 'v1', ' v1 '])('routes by API-Version: %j', async (header) => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api',
      headers: { 'api-version': header },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().version).toBe('v1');
  });

  it.each(['2', 'v7', 'latest', '1.0', '', 'v01', '1; drop'])(
    'refuses API-Version %j with 400 unsupported_api_version',
    async (header) => {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/examples',
        headers: { 'api-version': header },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('unsupported_api_version');
    },
  );

  it('refuses a versioned path for a version that does not exist', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v9/examples' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('unsupported_api_version');
  });

  it('leaves explicit /api/v1 paths alone whatever the header says', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1',
      headers: { 'api-version': '1' },
    });
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['//api/examples?limit=2', 200],
    ['/%61pi/examples?limit=2', 200],
    ['/api/%2Fexamples', 404],
    ['/%61pi%2Fv1/examples', 404],
    ['/%%34%31pi/examples', 400],
  ])('routes %s as the router reads it', async (url, status) => {
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.statusCode, res.body).toBe(status);
    if (status === 200) expect(res.json()).toEqual({ query: { limit: 2 } });
  });

  it('does not treat /apix as an API path', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/apix',
      headers: { 'api-version': 'nope' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('not_found');
  });

  it('marks a stable version as stable and sends no deprecation headers', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1' });
    expect(res.json()).toMatchObject({ status: 'stable', deprecatedAt: null, sunsetAt: null });
    expect(res.headers.deprecation).toBeUndefined();
    expect(res.headers.sunset).toBeUndefined();
  });
});

describe('API version deprecation', () => {
  const deprecatedAt = '2026-06-01T00:00:00Z';
  const sunsetAt = '2027-06-01T00:00:00Z';
  const before = Date.parse('2026-12-01T00:00:00Z');
  const after = Date.parse('2027-06-01T00:00:01Z');
  let clock = before;
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(
      { api: { deprecations: { '1': { deprecatedAt, sunsetAt, successor: '/api/v2' } } } },
      { now: () => clock },
    );
  });
  afterAll(async () => {
    await t.app.close();
  });

  it('sends Deprecation, Sunset and successor Link before the sunset', async () => {
    clock = before;
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.deprecation).toBe(`@${Date.parse(deprecatedAt) / 1000}`);
    expect(res.headers.sunset).toBe('Tue, 01 Jun 2027 00:00:00 GMT');
    expect(res.headers.link).toBe('</api/v2>; rel="successor-version"');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1' })).json().status).toBe(
      'deprecated',
    );
  });

  it('says stable, with the announced dates, until deprecatedAt, as the Deprecation header does', async () => {
    clock = Date.parse(deprecatedAt) - 1000;
    const res = await t.app.inject({ method: 'GET', url: '/api/v1' });
    expect(res.headers.deprecation).toBe(`@${Date.parse(deprecatedAt) / 1000}`);
    expect(res.json()).toMatchObject({ status: 'stable', deprecatedAt, sunsetAt });
    clock = Date.parse(deprecatedAt);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1' })).json().status).toBe(
      'deprecated',
    );
  });

  it('sends them on errors too, and through unversioned routing', async () => {
    clock = before;
    const res = await t.app.inject({ method: 'GET', url: '/api/missing' });
    expect(res.statusCode).toBe(404);
    expect(res.headers.deprecation).toBeDefined();
  });

  it('answers 410 api_version_sunset after the sunset, with the headers', async () => {
    clock = after;
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples' });
    expect(res.statusCode).toBe(410);
    expect(res.json().code).toBe('api_version_sunset');
    expect(res.headers.sunset).toBe('Tue, 01 Jun 2027 00:00:00 GMT');
    expect(res.headers.link).toBe('</api/v2>; rel="successor-version"');
  });

  // The router collapses `//`, decodes `%61` to `a` and takes absolute-form targets (RFC 9112
  // §3.2.2): each reached the v1 routes, so versioning must read the path as the router does.
  it.each([
    '//api/v1/examples',
    '/api//v1/examples',
    '/%61pi/v1/examples',
    '/ap%69/v%31/examples',
    '/%61pi/examples',
    '//api/examples',
  ])('answers 410 for %s, a spelling of a retired path that the router matches', async (url) => {
    clock = after;
    const res = await t.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(410);
    expect(res.json().code).toBe('api_version_sunset');
    expect(res.headers.sunset).toBe('Tue, 01 Jun 2027 00:00:00 GMT');
  });

  it('answers 410 for an absolute-form request target', async () => {
    clock = after;
    const port = await listenOnLoopback(t.app);
    for (const target of ['http://bulwark.example/api/v1/examples', 'HTTPS://h//api/examples?a']) {
      const res = await sendRaw(
        port,
        `GET ${target} HTTP/1.1\r\nHost: bulwark.example\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, target).toBe(410);
      expect(JSON.parse(res.body).code).toBe('api_version_sunset');
    }
  });

  it('sends the deprecation headers on every spelling before the sunset', async () => {
    clock = before;
    const res = await t.app.inject({ method: 'GET', url: '//api/v1/examples?limit=2' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ query: { limit: 2 } });
    expect(res.headers['api-version']).toBe('1');
    expect(res.headers.deprecation).toBe(`@${Date.parse(deprecatedAt) / 1000}`);
  });

  it('keeps non-API routes working after the sunset', async () => {
    clock = after;
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });
});
