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
