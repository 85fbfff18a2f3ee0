import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/http/logger.js';
import { buildTestApp } from '../helpers/app.js';

describe('logging', () => {
  it('writes one access line per request with method, route, status, duration and request id', async () => {
    const t = await buildTestApp({ log: { level: 'info' } });
    try {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1/examples?limit=3',
        headers: { authorization: 'Bearer secret-token-value', cookie: 'sid=secret-cookie' },
      });
      const lines = t.logs.lines.filter((l) => l.requestId === res.headers['x-request-id']);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'info',
        msg: 'request completed',
        method: 'GET',
        route: '/api/v1/examples',
        status: 200,
      });
      expect(typeof lines[0]!.durationMs).toBe('number');
      expect(t.logs.raw.join('\n')).not.toMatch(/secret-token-value|secret-cookie|limit=3/);
    } finally {
      await t.app.close();
    }
  });

  it('redacts secrets wherever they appear in a logged object', async () => {
    const t = await buildTestApp();
    try {
      t.app.log.info(
        {
          headers: { authorization: 'Bearer abc.def.ghi', cookie: 'a=b', 'set-cookie': ['s=1'] },
          body: {
            user: { email: 'a@b.c', password: 'hunter2hunter2' },
            list: [{ refreshToken: 'rt-1' }],
          },
          deep: { a: { b: { c: { clientSecret: 'cs-1', apiKey: 'k-1' } } } },
        },
        'something happened',
      );
      const raw = t.logs.raw.join('\n');
      for (const secret of ['abc.def.ghi', 'a=b', 's=1', 'hunter2hunter2', 'rt-1', 'cs-1', 'k-1']) {
        expect(raw).not.toContain(secret);
      }
      expect(raw).toContain('a@b.c');
      expect(raw).toContain('[redacted]');
    } finally {
      await t.app.close();
    }
  });

  it('redacts secrets carried by logged errors', async () => {
    const t = await buildTestApp();
    try {
      const error = Object.assign(new Error('boom'), {
        config: { password: 'p4ssw0rd-in-error' },
        token: 'tok-in-error',
      });
      t.app.log.error({ err: error }, 'failed');
      const raw = t.logs.raw.join('\n');
      expect(raw).toContain('boom');
      expect(raw).not.toMatch(/p4ssw0rd-in-error|tok-in-error/);
    } finally {
      await t.app.close();
    }
  });

  it('logs a rejected request with its code and reason but no stack; a failure keeps its stack', async () => {
    const t = await buildTestApp();
    try {
      const rejected = await t.app.inject({
        method: 'POST',
        url: '/api/v1/examples',
        headers: { 'content-type': 'application/json', authorization: 'Bearer a.b.c' },
        payload: '{"name":42}',
      });
      expect(rejected.statusCode).toBe(400);
      const failed = await t.app.inject({ method: 'GET', url: '/api/v1/examples/crash' });
      expect(failed.statusCode).toBe(500);
      const lineOf = (id: unknown, msg: string) =>
        t.logs.lines.find((line) => line.requestId === id && line.msg === msg);
      const rejection = lineOf(rejected.headers['x-request-id'], 'request rejected');
      expect(rejection).toMatchObject({
        level: 'debug',
        code: 'validation_failed',
        reason: { type: 'Error', message: expect.stringContaining('body/name must be string') },
      });
      expect(JSON.stringify(rejection)).not.toMatch(/stack|\bat \S+ \(/);
      const failure = lineOf(failed.headers['x-request-id'], 'request failed');
      expect((failure?.err as { stack?: string } | undefined)?.stack).toContain('at ');
    } finally {
      await t.app.close();
    }
  });

  // V8's JSON.parse message quotes the text around the error: for a token whose header segment
  // is not JSON, that was a piece of the Authorization header in the debug line of the refusal.
  it('keeps no piece of a bearer token in the log of its refusal', async () => {
    const t = await buildTestApp({ log: { level: 'trace' } });
    try {
      const segment = Buffer.from('{"alg":Zq9xW}').toString('base64url');
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: { authorization: `Bearer ${segment}.e30.c2ln` },
      });
      expect(res.statusCode).toBe(401);
      const rejection = t.logs.lines.find((line) => line.msg === 'request rejected');
      expect(rejection).toMatchObject({ code: 'invalid_token' });
      expect(JSON.stringify(rejection)).toContain('unreadable header');
      expect(t.logs.raw.join('\n')).not.toContain('Zq9xW');
    } finally {
      await t.app.close();
    }
  });

  it('survives cyclic and very deep objects', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { password: 'bottom' };
    for (let i = 0; i < 50; i++) deep = { next: deep };
    const out = JSON.stringify(redactSecrets({ cyclic, deep }));
    expect(out).toContain('[circular]');
    expect(out).not.toContain('bottom');
  });

  // JSON.parse makes `__proto__` an own key; copied by assignment it set the copy's prototype.
  it('keeps an own __proto__ key as a key, redacted inside like any other', () => {
    const parsed: unknown = JSON.parse('{"__proto__":{"password":"hunter2","note":"kept"},"a":1}');
    const copy = redactSecrets(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(JSON.stringify(copy)).toBe(
      '{"__proto__":{"password":"[redacted]","note":"kept"},"a":1}',
    );
  });
});
