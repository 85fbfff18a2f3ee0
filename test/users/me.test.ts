import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import { bearer, registerAndLogin, type LoggedIn } from '../helpers/identity.js';
import {
  expectNoRowLeak,
  expectProblem,
  expectUser,
  securityEvents,
  type UserBody,
} from '../helpers/users.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

async function getMe(token: string) {
  return t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
}

async function patchMe(token: string, payload: unknown) {
  return t.app.inject({
    method: 'PATCH',
    url: '/api/v1/users/me',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

async function me(caller: LoggedIn): Promise<UserBody> {
  const res = await getMe(caller.accessToken);
  expect(res.statusCode, res.body).toBe(200);
  return expectUser(res.json());
}

describe(`GET /api/v1/users/me on ${dialectUnderTest}`, () => {
  it('answers the caller as a SPEC User and nothing more', async () => {
    const caller = await registerAndLogin(t.app, { name: 'Ada Lovelace' });
    const res = await getMe(caller.accessToken);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toMatch(/no-store/);
    expectNoRowLeak(res.body);
    const user = expectUser(res.json());
    expect(user).toMatchObject({
      id: caller.id,
      email: caller.email,
      name: 'Ada Lovelace',
      role: 'user',
      phone: null,
      emailVerified: false,
      mfaEnabled: false,
    });
    expect(user.createdAt).toBe(user.updatedAt);
  });

  it('needs a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me' });
    expectProblem(res, 401, 'authentication_required');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
  });
});

describe(`PATCH /api/v1/users/me on ${dialectUnderTest}`, () => {
  it('normalises the name: trimmed, NFC, inner whitespace collapsed', async () => {
    const caller = await registerAndLogin(t.app);
    const before = await me(caller);
    // "e" + combining acute accent (NFD) must be stored as the single code point U+00E9; runs of
    // spaces, no-break and em spaces become one space. (Tabs and newlines are control characters.)
    const res = await patchMe(caller.accessToken, {
      name: '  Rene\u0301e \u00a0  van\u2003\u2003Dijk  ',
    });
    expect(res.statusCode, res.body).toBe(200);
    expectNoRowLeak(res.body);
    const user = expectUser(res.json());
    expect(user.name).toBe('Ren\u00e9e van Dijk');
    expect(user.email).toBe(before.email);
    expect(user.role).toBe('user');
    expect(Date.parse(user.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before.updatedAt));
    expect(user.createdAt).toBe(before.createdAt);
    expect((await me(caller)).name).toBe('Ren\u00e9e van Dijk');
  });

  it('normalises the phone to E.164 and clears it with null', async () => {
    const caller = await registerAndLogin(t.app);
    const set = await patchMe(caller.accessToken, { phone: '+44 1632 960-961' });
    expect(set.statusCode, set.body).toBe(200);
    expectNoRowLeak(set.body);
    expect(expectUser(set.json()).phone).toBe('+441632960961');
    expect((await me(caller)).phone).toBe('+441632960961');

    const cleared = await patchMe(caller.accessToken, { phone: null });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(expectUser(cleared.json()).phone).toBeNull();
    expect((await me(caller)).phone).toBeNull();
  });

  it('changes name and phone together', async () => {
    const caller = await registerAndLogin(t.app);
    const res = await patchMe(caller.accessToken, { name: 'Both', phone: '+1 (202) 555.0143' });
    expect(res.statusCode, res.body).toBe(200);
    expect(expectUser(res.json())).toMatchObject({ name: 'Both', phone: '+12025550143' });
  });

  // Mass assignment: the body schema lists name and phone; anything else is an attack or a bug.
  it.each([
    ['email', { email: 'someone-else@example.com' }],
    ['role', { role: 'admin' }],
    ['disabled', { disabled: true }],
    ['id', { id: '00000000-0000-4000-8000-000000000000' }],
    ['password_hash', { password_hash: '$argon2id$v=19$m=1024,t=1,p=1$AAAA$BBBB' }],
    ['emailVerified', { emailVerified: true }],
    ['mfaEnabled', { mfaEnabled: true }],
    ['createdAt', { createdAt: '2000-01-01T00:00:00.000Z' }],
    ['a known field next to an unknown one', { name: 'Sneaky', role: 'admin' }],
  ])('rejects %s with 400 validation_failed and changes nothing', async (_label, payload) => {
    const caller = await registerAndLogin(t.app, { name: 'Unchanged' });
    const before = await me(caller);
    const res = await patchMe(caller.accessToken, payload);
    const problem = expectProblem(res, 400, 'validation_failed');
    const unknown = Object.keys(payload).filter((key) => key !== 'name');
    expect(problem.errors).toEqual(
      expect.arrayContaining(
        unknown.map((key) => ({ path: `/body/${key}`, message: 'is not allowed' })),
      ),
    );
    expect(await me(caller)).toEqual(before);
  });

  it.each([
    ['__proto__', '{"name":"Polluted","__proto__":{"role":"admin"}}'],
    ['constructor.prototype', '{"name":"Polluted","constructor":{"prototype":{"role":"admin"}}}'],
  ])('refuses a %s key with 400 forbidden_json_key and changes nothing', async (_label, raw) => {
    const caller = await registerAndLogin(t.app, { name: 'Unchanged' });
    const before = await me(caller);
    expectProblem(await patchMe(caller.accessToken, raw), 400, 'forbidden_json_key');
    expect(await me(caller)).toEqual(before);
    expect(({} as Record<string, unknown>).role).toBeUndefined();
  });

  it('rejects an empty body {} with 400', async () => {
    const caller = await registerAndLogin(t.app);
    const problem = expectProblem(await patchMe(caller.accessToken, {}), 400, 'validation_failed');
    expect(problem.errors).toEqual([expect.objectContaining({ path: '/body' })]);
  });

  it.each([
    ['letters', '+44 16 CALL ME'],
    ['no leading +', '441632960961'],
    ['a leading zero country code', '+0441632960961'],
    ['too few digits', '+12345'],
    ['too many digits', '+1234567890123456'],
    ['an extension', '+441632960961 ext 5'],
    ['too long for the schema', `+44${'1'.repeat(40)}`],
    ['a number', 441632960961],
    ['a control character', '+441632\u0000960961'],
    ['a lone surrogate', '+441632\ud800960961'],
    ['a word joiner', '+441632\u2060960961'],
  ])('rejects a phone with %s: 400 with errors at /body/phone', async (_label, phone) => {
    const caller = await registerAndLogin(t.app);
    const before = await me(caller);
    const problem = expectProblem(
      await patchMe(caller.accessToken, { phone }),
      400,
      'validation_failed',
    );
    const errors = problem.errors as { path: string }[];
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) expect(error.path).toMatch(/^\/body\/phone/);
    expect(await me(caller)).toEqual(before);
  });

  it.each([
    ['a NUL', 'Eve\u0000'],
    ['a newline', 'Eve\nAdmin'],
    ['a tab', 'Eve\tAdmin'],
    ['a trailing carriage return', 'Eve\r'],
    ['an escape sequence', 'Eve\u001b[31m'],
    ['DEL', 'Eve\u007f'],
    ['a C1 control', 'Eve\u0085'],
    ['a right-to-left override', 'Eve \u202egnp.exe'],
    ['a bidi isolate', 'Eve \u2066x\u2069'],
    ['a zero-width space', 'E\u200bve'],
    ['a byte order mark', '\ufeffEve'],
    ['a lone surrogate', 'x\ud800y'],
    ['a soft hyphen', 'E\u00adve'],
    ['a word joiner', 'E\u2060ve'],
    ['a Hangul filler for a blank-looking name', '\u3164'],
    ['a variation selector after a letter', 'Eve\ufe0f'],
    ['hidden tag characters', 'Eve\u{e0061}\u{e0064}\u{e006d}'],
    ['only whitespace', '   '],
    ['the empty string', ''],
    ['101 characters', 'x'.repeat(101)],
  ])('rejects a name with %s: 400 at /body/name, nothing stored', async (_label, name) => {
    const caller = await registerAndLogin(t.app, { name: 'Unchanged' });
    const problem = expectProblem(
      await patchMe(caller.accessToken, { name }),
      400,
      'validation_failed',
    );
    const errors = problem.errors as { path: string }[];
    for (const error of errors) expect(error.path).toBe('/body/name');
    expect((await me(caller)).name).toBe('Unchanged');
  });

  it('names what is wrong with invalid Unicode and invisible characters in a name', async () => {
    const caller = await registerAndLogin(t.app, { name: 'Unchanged' });
    for (const [raw, message] of [
      // As a client sends it: a JSON escape, which is the only way to a lone surrogate.
      ['{"name":"x\\ud800y"}', 'must not contain invalid Unicode (an unpaired surrogate)'],
      ['{"name":"x\\u00ady"}', 'must not contain invisible characters'],
    ] as const) {
      const problem = expectProblem(
        await patchMe(caller.accessToken, raw),
        400,
        'validation_failed',
      );
      expect(problem.errors).toEqual([{ path: '/body/name', message }]);
    }
    expect((await me(caller)).name).toBe('Unchanged');
  });

  it('emits user.updated with the changed field names, never the values', async () => {
    const caller = await registerAndLogin(t.app);
    const res = await patchMe(caller.accessToken, { name: 'Evented', phone: '+44 1632 960-962' });
    expect(res.statusCode, res.body).toBe(200);
    const events = securityEvents(t.logs, 'user.updated').filter(
      (event) => event.target?.id === caller.id,
    );
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event).toMatchObject({
      outcome: 'success',
      actorId: caller.id,
      target: { type: 'user', id: caller.id },
    });
    expect([...(event.details?.fields as string[])].sort()).toEqual(['name', 'phone']);
    expect(event.requestId).toBe(res.headers['x-request-id']);
    // The phone number appears nowhere in the logs, in any formatting.
    const logText = t.logs.raw.join('\n');
    expect(logText).not.toContain('1632960962');
    expect(logText).not.toContain('1632 960-962');
    expect(JSON.stringify(event)).not.toContain('Evented');
  });

  it('emits nothing when a request is refused', async () => {
    const caller = await registerAndLogin(t.app);
    await patchMe(caller.accessToken, { role: 'admin' });
    await patchMe(caller.accessToken, { name: 'x\u202e' });
    expect(
      securityEvents(t.logs, 'user.updated').filter((e) => e.target?.id === caller.id),
    ).toEqual([]);
    expect(
      securityEvents(t.logs, 'user.role_changed').filter((e) => e.target?.id === caller.id),
    ).toEqual([]);
  });

  it('needs JSON', async () => {
    const caller = await registerAndLogin(t.app);
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: {
        ...bearer(caller.accessToken),
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: 'role=admin',
    });
    expectProblem(res, 415, 'unsupported_media_type');
    expect((await me(caller)).role).toBe('user');
  });
});
