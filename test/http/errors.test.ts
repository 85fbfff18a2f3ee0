import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

function expectProblem(
  res: { headers: Record<string, unknown>; json: () => unknown },
  status: number,
  code: string,
) {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:bulwark:problem:${code}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.requestId).toBe(res.headers['x-request-id']);
  return body;
}

describe('error handling', () => {
  it('answers an unknown route with 404 not_found', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/no/such/thing' });
    expect(res.statusCode).toBe(404);
    expectProblem(res, 404, 'not_found');
  });

  it('answers a known path with a wrong method with 405 and Allow', async () => {
    const res = await t.app.inject({ method: 'DELETE', url: '/health/live' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expectProblem(res, 405, 'method_not_allowed');
  });

  it('lists every method a path answers in Allow', async () => {
    const res = await t.app.inject({ method: 'PUT', url: '/api/v1/examples' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
  });

  it('answers 404, not 405, when a GET handler calls callNotFound()', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples/missing' });
    expect(res.statusCode).toBe(404);
    expect(res.headers.allow).toBeUndefined();
    expectProblem(res, 404, 'not_found');
  });

  it('answers 404 for a missing file of the API reference', async () => {
    for (const url of ['/docs/static/nonexistent.js', '/docs/static/..%2fpackage.json']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.headers.allow).toBeUndefined();
      expectProblem(res, 404, 'not_found');
    }
  });

  it('still answers 405 on a path whose handler calls callNotFound() for another method', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/examples/missing' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it.each([
    [400, 'bad_request'],
    [401, 'authentication_required'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [405, 'method_not_allowed'],
    [408, 'request_timeout'],
    [409, 'conflict'],
    [413, 'payload_too_large'],
    [415, 'unsupported_media_type'],
    [429, 'rate_limited'],
    [431, 'request_header_fields_too_large'],
    [503, 'service_unavailable'],
  ])('keeps the status %i of a plugin error as %s, without its message', async (status, code) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/examples/status/${status}` });
    expect(res.statusCode).toBe(status);
    expectProblem(res, status, code);
    expect(res.body).not.toMatch(/internal detail|10\.0\.0\.5/);
  });

  it.each([
    [406, 400, 'bad_request'],
    [422, 400, 'bad_request'],
    [502, 500, 'internal_error'],
  ])('answers a plugin error with status %i as %i %s', async (status, expected, code) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/examples/status/${status}` });
    expect(res.statusCode).toBe(expected);
    expectProblem(res, expected, code);
    expect(res.body).not.toMatch(/internal detail|10\.0\.0\.5/);
  });

  it('names the Bearer scheme on a plugin 401', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples/status/401' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="bulwark"');
  });

  it('adds no scheme to a catalogued 401 that sets none (invalid_credentials)', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'nobody@example.com', password: 'not the password at all 42' },
    });
    expectProblem(res, 401, 'invalid_credentials');
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('answers a schema failure with 400 validation_failed and field errors', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/examples',
      payload: { name: '', count: 99, extra: true },
    });
    expect(res.statusCode).toBe(400);
    const body = expectProblem(res, 400, 'validation_failed');
    const errors = body.errors as { path: string; message: string }[];
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: '/body/extra', message: 'is not allowed' },
        expect.objectContaining({ path: '/body/name' }),
        expect.objectContaining({ path: '/body/count' }),
      ]),
    );
  });

  it('names a missing required field', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/examples', payload: {} });
    const body = expectProblem(res, 400, 'validation_failed');
    expect(body.errors).toEqual([{ path: '/body/name', message: 'is required' }]);
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/examples',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    expect(res.statusCode).toBe(400);
    const body = expectProblem(res, 400, 'invalid_json');
    expect(JSON.stringify(body)).not.toMatch(/Unexpected|position|SyntaxError/);
  });

  it('answers an empty JSON body with 400 invalid_json', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/examples',
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    expect(res.statusCode).toBe(400);
    expectProblem(res, 400, 'invalid_json');
  });

  it('answers an unexpected failure with a generic 500 that leaks nothing', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples/crash' });
    expect(res.statusCode).toBe(500);
    const body = expectProblem(res, 500, 'internal_error');
    const text = res.body;
    for (const leak of [
      'SQLITE',
      'SELECT',
      'argon2',
      'secret',
      '/work/',
      'users.ts',
      'at ',
      'Error',
    ]) {
      expect(text).not.toContain(leak);
    }
    expect(body.detail).toMatch(/requestId/);
    // ...but the operator sees the cause in the log, tied to the request id.
    const line = t.logs.lines.find((l) => l.requestId === body.requestId && l.level === 'error');
    expect(line?.msg).toBe('request failed');
  });
});
