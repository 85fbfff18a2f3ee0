import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

const post = (payload: string, contentType = 'application/json') =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/examples',
    headers: { 'content-type': contentType },
    payload,
  });

describe('input rules', () => {
  it('accepts a valid JSON body', async () => {
    const res = await post(JSON.stringify({ name: 'ok', count: 2, tags: ['a'] }));
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ received: { name: 'ok', count: 2, tags: ['a'] } });
  });

  it('accepts application/json with a utf-8 charset', async () => {
    const res = await post(JSON.stringify({ name: 'ok' }), 'application/json; charset=utf-8');
    expect(res.statusCode).toBe(201);
  });

  it.each([
    [
      'application/xml',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ],
    ['text/xml', '<x/>'],
    ['application/x-www-form-urlencoded', 'name=ok'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nok\r\n--x--',
    ],
    ['text/plain', '{"name":"ok"}'],
    ['application/json; charset=latin1', '{"name":"ok"}'],
  ])('refuses %s with 415 unsupported_media_type', async (type, body) => {
    const res = await post(body, type);
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('unsupported_media_type');
  });

  it.each([
    ['a stray continuation byte', [0x80]],
    ['bytes that never occur in UTF-8', [0xff, 0xfe]],
    ['a truncated two-byte sequence', [0xc3]],
    ['a truncated three-byte sequence', [0xe2, 0x82]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses a body with %s with 400 invalid_json', async (_label, bytes) => {
    const payload = Buffer.concat([
      Buffer.from('{"name":"a'),
      Buffer.from(bytes),
      Buffer.from('b"}'),
    ]);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/examples',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'invalid_json',
      detail: 'The request body is not valid UTF-8; send JSON in UTF-8.',
    });
  });

  it('accepts multi-byte UTF-8 and a leading byte order mark', async () => {
    const name = 'Zoë 日本 😀';
    for (const payload of [
      Buffer.from(JSON.stringify({ name })),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ name }))]),
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/examples',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        payload,
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toEqual({ received: { name } });
    }
  });

  it('refuses a body with no content type', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/examples',
      payload: '{"name":"ok"}',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('unsupported_media_type');
  });

  it('refuses a body over the limit with 413 payload_too_large', async () => {
    const res = await post(JSON.stringify({ name: 'x'.repeat(110 * 1024) }));
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });

  it('honours a configured body limit', async () => {
    const small = await buildTestApp({ http: { bodyLimitBytes: 2048 } });
    try {
      const res = await small.app.inject({
        method: 'POST',
        url: '/api/v1/examples',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ name: 'x'.repeat(3000) }),
      });
      expect(res.statusCode).toBe(413);
    } finally {
      await small.app.close();
    }
  });

  it.each([
    ['__proto__ at the top', '{"name":"ok","__proto__":{"isAdmin":true}}'],
    ['__proto__ nested', '{"name":"ok","nested":{"__proto__":{"x":1}}}'],
    ['constructor.prototype', '{"name":"ok","constructor":{"prototype":{"isAdmin":true}}}'],
    ['an escaped __proto__', String.raw`{"name":"ok","\u005f_proto__":{"isAdmin":true}}`],
    [
      'a fully escaped __proto__',
      String.raw`{"\u005f\u005f\u0070\u0072\u006f\u0074\u006f\u005f\u005f":{}}`,
    ],
    ['an escaped constructor', String.raw`{"constr\u0075ctor":{"prototype":{"isAdmin":true}}}`],
    ['__proto__ inside an array', '{"name":"ok","tags":[{"__proto__":{}}]}'],
  ])('refuses %s with 400 forbidden_json_key', async (_label, body) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('forbidden_json_key');
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  // The classification comes from where the failure arose, not from the error text (V8 quotes
  // the input in its SyntaxError, so the word "prototype" once turned a typo into an "attack").
  it.each([
    ['a bare word', 'prototype'],
    ['an unquoted value', '{"name":prototype}'],
    ['a broken document naming __proto__', '{"__proto__": '],
    ['a broken document naming constructor', '{"constructor": {"prototype": '],
  ])('answers invalid JSON that mentions prototypes (%s) with invalid_json', async (_l, body) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_json');
  });

  // V8's SyntaxError quotes the text around the error: a client that quotes a password with ' or
  // leaves it unquoted would see it written to the log of the rejection.
  it.each([
    ['single-quoted', `{"email":"a@example.com","password":'Tr0ub4dor&3xyz'}`],
    ['unquoted', `{"password":Tr0ub4dor&3xyz}`],
  ])('writes nothing of a %s password in a broken document to the log', async (_l, body) => {
    const res = await post(body);
    expect(res.json().code).toBe('invalid_json');
    const lines = t.logs.raw.filter((line) => line.includes(res.headers['x-request-id'] as string));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('Tr0ub4');
  });

  // JSON.parse keeps the last of two equal keys, silently; a proxy, WAF or logger in front that
  // reads the first one sees another request than the one served (RFC 7493 §2.3: I-JSON objects
  // have unique names). `{"role":"user","role":"admin"}` is an attack, not a typo to fix.
  it.each([
    ['at the top', '{"name":"first","name":"second"}'],
    ['in a nested object', '{"name":"ok","meta":{"a":1,"a":2}}'],
    ['in an object in an array', '{"name":"ok","tags":[],"list":[{"k":1},{"k":1,"k":2}]}'],
    ['spelt with an escape', '{"name":"first","n\\u0061me":"second"}'],
  ])('refuses a body that repeats a key %s with invalid_json', async (_l, body) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_json');
    expect(res.json().detail).toMatch(/same key twice/);
  });

  it('accepts equal keys in different objects, and keys that only look alike', async () => {
    const res = await post(
      '{"name":"n","tags":["name","name"],"count":1,"meta":{"name":1,"inner":{"name":2}},' +
        '"other":[{"name":1},{"name":2}],"Name":3,"name ":4,"{\\"name\\"":5,"a,\\"name\\":":6}',
    );
    // Past the parser: refused only by the route's schema, for the extra fields.
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
  });

  it('accepts the words __proto__ and constructor as values', async () => {
    const res = await post(JSON.stringify({ name: 'constructor', tags: ['__proto__'] }));
    expect(res.statusCode).toBe(201);
  });

  describe('routes that declare no body', () => {
    const noBody = {
      path: '/body',
      message: 'is not allowed',
    };
    it.each([
      ['POST', '/api/v1/examples/no-body', '{"evil":1}'],
      ['POST', '/api/v1/examples/no-body', '{}'],
      ['DELETE', '/api/v1/examples/no-body', '{"x":1}'],
      ['GET', '/api/v1/examples', '{"x":1}'],
      ['POST', '/api/v1/auth/logout-all', '{"evil":1}'],
      ['POST', '/api/v1/auth/logout', '{}'],
      ['GET', '/api/v1/users/me', '{"x":1}'],
    ])('refuse a body on %s %s with 400 validation_failed', async (method, url, payload) => {
      const res = await t.app.inject({
        method: method as 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [noBody] });
    });

    it('refuse a chunked body', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/examples/no-body',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        payload: '{}',
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [noBody] });
    });

    it('accept requests without a body, or with an empty one', async () => {
      for (const method of ['POST', 'DELETE'] as const) {
        const bare = await t.app.inject({ method, url: '/api/v1/examples/no-body' });
        expect(bare.statusCode).toBe(200);
        const empty = await t.app.inject({
          method,
          url: '/api/v1/examples/no-body',
          headers: { 'content-length': '0' },
        });
        expect(empty.statusCode).toBe(200);
      }
      const logout = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all' });
      expect(logout.statusCode).toBe(401);
    });
  });

  it('refuses deeply nested JSON quickly, without crashing', async () => {
    const depth = 50_000; // ~100 KB, just under the body limit
    const started = performance.now();
    const res = await post('['.repeat(depth) + ']'.repeat(depth));
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('json_too_deep');
    expect(performance.now() - started).toBeLessThan(2_000);
    // The process still answers.
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });

  it('does not count brackets inside strings as nesting', async () => {
    const res = await post(JSON.stringify({ name: '[[[[[[[[[[' }));
    expect(res.statusCode).toBe(201);
  });

  it('refuses nesting one level past the configured depth', async () => {
    const shallow = await buildTestApp({ http: { maxJsonDepth: 2 } });
    try {
      const res = await shallow.app.inject({
        method: 'POST',
        url: '/api/v1/examples',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ name: 'ok', nested: { note: 'x' }, tags: [] }),
      });
      expect(res.statusCode).toBe(201);
      const deeper = await shallow.app.inject({
        method: 'POST',
        url: '/api/v1/examples',
        headers: { 'content-type': 'application/json' },
        payload: '{"name":"ok","nested":{"note":[[1]]}}',
      });
      expect(deeper.statusCode).toBe(400);
      expect(deeper.json().code).toBe('json_too_deep');
    } finally {
      await shallow.app.close();
    }
  });

  it('refuses unknown body fields instead of dropping them (no mass assignment)', async () => {
    const res = await post(JSON.stringify({ name: 'ok', role: 'admin' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ path: '/body/role', message: 'is not allowed' }]);
  });

  it('does not coerce body types', async () => {
    const res = await post(JSON.stringify({ name: 'ok', count: '3' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].path).toBe('/body/count');
  });

  it('enforces string and array bounds', async () => {
    const res = await post(
      JSON.stringify({ name: 'x'.repeat(21), tags: ['a', 'b', 'c', 'd', 'e', 'f'] }),
    );
    expect(res.statusCode).toBe(400);
    const paths = (res.json().errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/body/name', '/body/tags']));
  });

  // Listing every problem made Ajv build one error per offending value: 30,000 wrong items of a
  // 60 KB body were 30,001 errors, a 1.6 MB answer and ~50-100 ms of CPU per request.
  it.each([
    [
      'an array far over its maxItems',
      `{"name":"a","tags":[${Array(30_000).fill('1').join(',')}]}`,
    ],
    [
      'thousands of unknown fields',
      `{"name":"a",${Array.from({ length: 10_000 }, (_, i) => `"k${i}":0`).join(',')}}`,
    ],
  ])('answers %s with a short problem, not one error per value', async (_label, payload) => {
    const res = await post(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
    expect(res.json().errors.length).toBeLessThanOrEqual(10);
    expect(res.body.length).toBeLessThan(2_000);
  });

  it('still lists every problem of a body of ordinary size', async () => {
    const res = await post(JSON.stringify({ name: 42, count: 'x', tags: [1, 2], extra: true }));
    expect(res.statusCode).toBe(400);
    const paths = (res.json().errors as { path: string }[]).map((e) => e.path).sort();
    expect(paths).toEqual([
      '/body/count',
      '/body/extra',
      '/body/name',
      '/body/tags/0',
      '/body/tags/1',
    ]);
  });

  it('coerces and validates declared query parameters', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/api/v1/examples?limit=5' });
    expect(ok.json()).toEqual({ query: { limit: 5 } });
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/examples?limit=500' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('/querystring/limit');
  });

  it('refuses unknown query parameters', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/examples?limit=5&debug=1' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ path: '/querystring/debug', message: 'is not allowed' }]);
  });

  it('refuses query parameters on a route that declares none', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live?verbose=true' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
  });
});
