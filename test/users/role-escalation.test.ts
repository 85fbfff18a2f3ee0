import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';
import { securityEvents } from '../helpers/users.js';

/*
 * Custom roles: a help desk that may manage users (users:write) but holds neither audit:read nor
 * keys:rotate must not be able to reach the administrator's permissions through user management:
 * not by giving itself or anyone the admin role, nor by disabling, demoting, deleting or
 * resetting the MFA of an administrator.
 */

const ROLES = {
  admin: ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
  helpdesk: ['users:read', 'users:write'],
  user: [],
};

let t: TestApp;
let clock = Date.parse('2026-11-30T12:00:00Z');
let admin: LoggedIn;
let helpdesk: LoggedIn;

/** Signs `who` in again with a second factor (the MFA reset route asks for one). */
async function withMfa(who: LoggedIn): Promise<LoggedIn> {
  const { secret } = await enrolMfa(t.app, who.accessToken, clock);
  clock += STEP_MS;
  const res = await loginWith(t.app, who.email, { mfaCode: totpCode(secret, clock) });
  expect(res.statusCode, res.body).toBe(200);
  clock += STEP_MS;
  return { ...who, accessToken: res.json<{ accessToken: string }>().accessToken };
}

beforeAll(async () => {
  t = await buildTestApp({ access: { roles: ROLES } }, { now: () => clock });
  admin = await createUserAndLogin(t.app, 'admin');
  helpdesk = await withMfa(await createUserAndLogin(t.app, 'helpdesk'));
});
afterAll(async () => {
  await t.app.close();
});

const patch = (by: LoggedIn, id: string, payload: Record<string, unknown>) =>
  t.app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${id}`,
    headers: bearer(by.accessToken),
    payload,
  });

async function roleOf(id: string): Promise<{ role: string; disabled: number } | undefined> {
  return t.app.services.usersRepo.findById(id);
}

function expectWiderRoleRefusal(res: { statusCode: number; json(): unknown }, role: string) {
  expect(res.statusCode).toBe(403);
  expect(res.json()).toMatchObject({ code: 'forbidden' });
  expect((res.json() as { detail: string }).detail).toContain(`"${role}"`);
}

describe('a users:write holder under a narrower role', () => {
  it('cannot give itself or anyone a role with permissions it lacks', async () => {
    const self = await patch(helpdesk, helpdesk.id, { role: 'admin' });
    expectWiderRoleRefusal(self, 'admin');
    expect((await roleOf(helpdesk.id))?.role).toBe('helpdesk');
    const user = await registerAndLogin(t.app);
    expectWiderRoleRefusal(await patch(helpdesk, user.id, { role: 'admin' }), 'admin');
    expect((await roleOf(user.id))?.role).toBe('user');
    expect(securityEvents(t.logs, 'access.denied').at(-1)).toMatchObject({
      actorId: helpdesk.id,
      target: { type: 'user', id: user.id },
      details: { reason: 'wider_role', role: 'admin', status: 403 },
    });
    // Roles within its own permissions stay its to give.
    expect((await patch(helpdesk, user.id, { role: 'helpdesk' })).statusCode).toBe(200);
    expect((await patch(helpdesk, user.id, { role: 'user' })).statusCode).toBe(200);
  });

  it('cannot create an administrator', async () => {
    const email = uniqueEmail('escalate');
    const create = (role: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: bearer(helpdesk.accessToken),
        payload: { email, password: STRONG_PASSWORD, name: 'New', role },
      });
    expectWiderRoleRefusal(await create('admin'), 'admin');
    expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
    expect((await create('helpdesk')).statusCode).toBe(201);
  });

  it('cannot disable, demote or delete an administrator, yet manages users', async () => {
    const target = await createUserAndLogin(t.app, 'admin');
    expectWiderRoleRefusal(await patch(helpdesk, target.id, { disabled: true }), 'admin');
    expectWiderRoleRefusal(await patch(helpdesk, target.id, { role: 'user' }), 'admin');
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${target.id}`,
      headers: bearer(helpdesk.accessToken),
    });
    expectWiderRoleRefusal(del, 'admin');
    expect(await roleOf(target.id)).toMatchObject({ role: 'admin', disabled: 0 });
    // The administrator's session was not ended by any of it.
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(target.accessToken),
    });
    expect(me.statusCode).toBe(200);

    const user = await registerAndLogin(t.app);
    expect((await patch(helpdesk, user.id, { disabled: true })).statusCode).toBe(200);
    const gone = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(helpdesk.accessToken),
    });
    expect(gone.statusCode).toBe(204);
  });

  it("cannot reset an administrator's MFA, yet resets a user's", async () => {
    const target = await withMfa(await createUserAndLogin(t.app, 'admin'));
    const reset = (id: string) =>
      t.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${id}/mfa`,
        headers: bearer(helpdesk.accessToken),
      });
    expectWiderRoleRefusal(await reset(target.id), 'admin');
    expect((await t.app.services.usersRepo.findById(target.id))?.mfa_enabled).toBe(1);
    const user = await withMfa(await registerAndLogin(t.app));
    expect((await reset(user.id)).statusCode).toBe(204);
  });
});

describe('an administrator holding every permission', () => {
  it('gives and takes any role, including its own', async () => {
    const user = await registerAndLogin(t.app);
    expect((await patch(admin, user.id, { role: 'admin' })).statusCode).toBe(200);
    expect((await patch(admin, user.id, { role: 'helpdesk' })).statusCode).toBe(200);
    expect((await patch(admin, user.id, { disabled: true })).statusCode).toBe(200);
  });
});
