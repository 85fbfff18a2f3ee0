import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';
import { expectProblem, securityEvents } from '../helpers/users.js';

/*
 * "At least one active administrator remains" must hold when administrators act at the same
 * moment: two admins demoting, disabling or deleting each other (or themselves) in parallel
 * requests may not both pass a count that each made before the other's change.
 */

let t: TestApp;
let first: LoggedIn;
let second: LoggedIn;
beforeEach(async () => {
  t = await buildTestApp();
  first = await createUserAndLogin(t.app, 'admin');
  second = await createUserAndLogin(t.app, 'admin');
});
afterEach(async () => {
  await t.app.close();
});

function call(caller: LoggedIn, method: 'PATCH' | 'DELETE', id: string, payload?: unknown) {
  return t.app.inject({
    method,
    url: `/api/v1/users/${id}`,
    headers: bearer(caller.accessToken),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function activeAdmins(): Promise<number> {
  const roles = t.app.services.permissions.rolesWith('users:write');
  return t.app.services.usersRepo.countActiveInRoles(roles);
}

describe(`the last active administrator under concurrent requests on ${dialectUnderTest}`, () => {
  it.each([
    ['demote each other', (a: LoggedIn, b: LoggedIn) => call(a, 'PATCH', b.id, { role: 'user' })],
    [
      'disable each other',
      (a: LoggedIn, b: LoggedIn) => call(a, 'PATCH', b.id, { disabled: true }),
    ],
    ['delete each other', (a: LoggedIn, b: LoggedIn) => call(a, 'DELETE', b.id)],
    ['demote themselves', (a: LoggedIn) => call(a, 'PATCH', a.id, { role: 'user' })],
    ['disable themselves', (a: LoggedIn) => call(a, 'PATCH', a.id, { disabled: true })],
    ['delete themselves', (a: LoggedIn) => call(a, 'DELETE', a.id)],
  ] as const)('two admins who %s at once leave one active admin', async (_name, act) => {
    const results = await Promise.all([act(first, second), act(second, first)]);
    const statuses = results.map((res) => res.statusCode).sort();
    // One wins; the other is refused as the last admin, or finds its own session already ended
    // by the winner (401): never may both succeed.
    expect(statuses[0], results.map((res) => res.body).join('\n')).toBeLessThan(300);
    expect([401, 409]).toContain(statuses[1]);
    for (const res of results.filter((r) => r.statusCode === 409)) {
      expect(res.json()).toMatchObject({ code: 'last_admin' });
    }
    expect(await activeAdmins()).toBe(1);
  });

  it('deletes a user once when two deletions of it run at once: 204, then 404', async () => {
    const user = await registerAndLogin(t.app);
    const results = await Promise.all([
      call(first, 'DELETE', user.id),
      call(second, 'DELETE', user.id),
    ]);
    const [won, lost] = results.sort((a, b) => a.statusCode - b.statusCode);
    expect(won.statusCode).toBe(204);
    expectProblem(lost, 404, 'not_found');
    const deleted = securityEvents(t.logs, 'user.deleted').filter((e) => e.target?.id === user.id);
    expect(deleted).toHaveLength(1);
  });
});
