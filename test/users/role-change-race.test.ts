import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { UsersRepository } from '../../src/db/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';
import { securityEvents } from '../helpers/users.js';

/*
 * Two administrators changing the same user's role at once: the audit trail records the role the
 * user had when each change was made, not the one read before another change landed.
 */

let t: TestApp;
let admin: LoggedIn;
beforeAll(async () => {
  t = await buildTestApp({
    access: {
      roles: {
        admin: ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
        support: ['users:read'],
        user: [],
      },
    },
  });
  admin = await createUserAndLogin(t.app, 'admin');
});
afterAll(async () => {
  await t.app.close();
});

/** Runs `meanwhile` after the PATCH read its target, before it takes the role lock. */
function beforeTheLock(meanwhile: () => Promise<void>): { restore(): void } {
  const repo = (t.app.services.users as unknown as { deps: { repo: UsersRepository } }).deps.repo;
  const original = repo.withRolesLock.bind(repo);
  const spy = vi.spyOn(repo, 'withRolesLock').mockImplementationOnce(async (fn) => {
    await meanwhile();
    return original(fn);
  });
  return { restore: () => spy.mockRestore() };
}

const setRole = (id: string, role: string) =>
  t.app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${id}`,
    headers: bearer(admin.accessToken),
    payload: { role },
  });

it('records "from" as the role at the time of the change', async () => {
  const user = await registerAndLogin(t.app);
  const hook = beforeTheLock(async () => {
    expect((await setRole(user.id, 'support')).statusCode).toBe(200);
  });
  try {
    const res = await setRole(user.id, 'admin');
    expect(res.statusCode, res.body).toBe(200);
  } finally {
    hook.restore();
  }
  const changes = securityEvents(t.logs, 'user.role_changed')
    .filter((e) => e.target?.id === user.id)
    .map((e) => e.details);
  expect(changes).toEqual([
    { from: 'user', to: 'support' },
    { from: 'support', to: 'admin' },
  ]);
});

it('records nothing for a change another administrator already made', async () => {
  const user = await registerAndLogin(t.app);
  const hook = beforeTheLock(async () => {
    expect((await setRole(user.id, 'support')).statusCode).toBe(200);
  });
  try {
    const res = await setRole(user.id, 'support');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ role: string }>().role).toBe('support');
  } finally {
    hook.restore();
  }
  const changes = securityEvents(t.logs, 'user.role_changed').filter(
    (e) => e.target?.id === user.id,
  );
  expect(changes.map((e) => e.details)).toEqual([{ from: 'user', to: 'support' }]);
});

/** Runs `meanwhile` right after the PATCH read its target: the target it goes on with is stale. */
function afterTheRead(meanwhile: () => Promise<void>): { restore(): void } {
  const users = t.app.services.users;
  const original = users.visible.bind(users);
  const spy = vi.spyOn(users, 'visible').mockImplementationOnce(async (...args) => {
    const stale = await original(...args);
    await meanwhile();
    return stale;
  });
  return { restore: () => spy.mockRestore() };
}

it('applies a change that only looked like a no-op against a stale read', async () => {
  const user = await registerAndLogin(t.app);
  // Another administrator makes the user support; this one, having read "user", sets it back.
  const hook = afterTheRead(async () => {
    expect((await setRole(user.id, 'support')).statusCode).toBe(200);
  });
  try {
    const res = await setRole(user.id, 'user');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ role: string }>().role).toBe('user');
  } finally {
    hook.restore();
  }
  expect((await t.app.services.usersRepo.findById(user.id))?.role).toBe('user');
  const changes = securityEvents(t.logs, 'user.role_changed')
    .filter((e) => e.target?.id === user.id)
    .map((e) => e.details);
  expect(changes).toEqual([
    { from: 'user', to: 'support' },
    { from: 'support', to: 'user' },
  ]);
});

it('applies a re-enable that only looked like a no-op against a stale read', async () => {
  const user = await registerAndLogin(t.app);
  const setDisabled = (disabled: boolean) =>
    t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(admin.accessToken),
      payload: { disabled },
    });
  const hook = afterTheRead(async () => {
    expect((await setDisabled(true)).statusCode).toBe(200);
  });
  try {
    expect((await setDisabled(false)).statusCode).toBe(200);
  } finally {
    hook.restore();
  }
  expect((await t.app.services.usersRepo.findById(user.id))?.disabled).toBe(0);
});
