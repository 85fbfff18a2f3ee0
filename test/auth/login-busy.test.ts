import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, registerAndLogin, STRONG_PASSWORD } from '../helpers/identity.js';
import { expectProblem, postLogin } from './support.js';

// One hash at a time, so the queue bound (64 per slot) is reached by a modest burst.
let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwords: { maxConcurrentHashes: 1 } });
});
afterAll(async () => {
  await t.app.close();
});

describe('a login flood beyond the hashing queue', () => {
  it('answers 503 service_unavailable with Retry-After beyond the bound, 401 to the rest, and recovers', async () => {
    const user = await registerAndLogin(t.app);
    const burst = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        postLogin(t.app, i % 2 === 0 ? user.email : `nobody-${i}@example.com`, `wrong ${i}`),
      ),
    );
    const statuses = burst.map((res) => res.statusCode);
    // Nothing else: no 500, no 200, and a refusal is never a wrong password's 401 in disguise.
    expect(
      statuses.every((s) => s === 401 || s === 503),
      statuses.join(','),
    ).toBe(true);
    const refused = burst.filter((res) => res.statusCode === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(65);
    const body = expectProblem(refused[0]!, 503, 'service_unavailable');
    expect(body.detail).toBe('Passwords cannot be checked right now. Try again shortly.');
    expect(refused[0]!.headers['retry-after']).toBe('1');
    // An expected refusal that a flood brings by the thousand: one warn line each, no stack.
    const line = t.logs.lines.find((l) => l.requestId === body.requestId);
    expect(line).toMatchObject({
      level: 'warn',
      msg: 'request refused: service unavailable',
      code: 'service_unavailable',
    });
    expect(line).not.toHaveProperty('err');
    expect(
      t.logs.lines.filter((l) => l.level === 'error' && l.msg === 'request failed'),
    ).toHaveLength(0);
    // Once the queue has drained the right password works again.
    expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
  });
});

// docs/security.md "Passwords": beyond the queue bound "a login, registration or password
// change gets 503 service_unavailable with Retry-After: 1 at once".
describe('a flood of password changes beyond the hashing queue', () => {
  it('answers 503 service_unavailable with Retry-After: 1 beyond the bound, 401 to the rest', async () => {
    const user = await registerAndLogin(t.app);
    const burst = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/password',
          headers: bearer(user.accessToken),
          payload: { currentPassword: `wrong ${i}`, newPassword: 'a brand new passphrase 2026' },
        }),
      ),
    );
    const statuses = burst.map((res) => res.statusCode);
    expect(
      statuses.every((s) => s === 401 || s === 503),
      statuses.join(','),
    ).toBe(true);
    const refused = burst.find((res) => res.statusCode === 503);
    expect(refused).toBeDefined();
    expectProblem(refused!, 503, 'service_unavailable');
    expect(refused!.headers['retry-after']).toBe('1');
    // The password is unchanged, and the session works once the queue has drained.
    expect((await postLogin(t.app, user.email, STRONG_PASSWORD)).statusCode).toBe(200);
  });
});
