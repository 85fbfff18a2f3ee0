/*
 * An address change ends every other session of the account (reason email_changed): whoever
 * else is signed in may be why the owner changed it. A provider sign-in's hand-off code issued
 * before the change is such a sign-in in all but name, so it is refused too (sessions_ended),
 * like after a logout everywhere or a password change (test/security/lifecycle-matrix-oidc).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, registerAndLogin, STRONG_PASSWORD, uniqueEmail } from '../helpers/identity.js';
import { lastOutboxToken } from '../helpers/smtp.js';
import {
  events,
  exchange,
  oidcFixture,
  signIn,
  signInToHandoff,
  type OidcFixture,
} from './support.js';

const outbox = mkdtempSync(join(tmpdir(), 'bulwark-handoff-address-'));
let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture(
    [],
    { allowLinkingVerifiedEmail: true },
    { email: { outboxDir: outbox, changeEmailUrl: 'https://app.example.com/change-email' } },
  );
});
afterAll(async () => {
  await f.close();
});

describe('a hand-off code issued before an address change', () => {
  it('is refused (sessions_ended) and starts no session; the confirming session stays', async () => {
    const user = await registerAndLogin(f.app);
    await f.app.services.usersRepo.update(user.id, { email_verified: 1 });
    f.provider.account({ sub: 'addr-change', email: user.email, email_verified: true });
    expect((await signIn(f, 'addr-change')).user.id).toBe(user.id);
    const handoff = await signInToHandoff(f, 'addr-change');

    const newEmail = uniqueEmail('moved');
    const asked = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/change',
      headers: bearer(user.accessToken),
      payload: { newEmail, password: STRONG_PASSWORD },
    });
    expect(asked.statusCode, asked.body).toBe(202);
    await f.app.services.accountEmail!.idle();
    const confirmed = await f.app.inject({
      method: 'POST',
      url: '/api/v1/auth/email/change/confirm',
      headers: bearer(user.accessToken),
      payload: { token: lastOutboxToken(outbox, newEmail) },
    });
    expect(confirmed.statusCode, confirmed.body).toBe(204);

    const open = () =>
      f.testDb.db.kysely
        .selectFrom('sessions')
        .select('id')
        .where('user_id', '=', user.id)
        .where('ended_at', 'is', null)
        .execute();
    const before = await open();
    const res = await exchange(f, handoff.code, handoff.browserSecret);
    expect(res.json()).toMatchObject({ status: 400, code: 'oidc_code_invalid' });
    expect(res.body).not.toMatch(/accessToken|refreshToken/);
    const rejected = events(f, 'oidc.code_rejected').filter((e) => e.target?.id === user.id);
    expect(rejected.at(-1)?.details).toEqual({ reason: 'sessions_ended' });
    expect(await open()).toEqual(before);
    // The session that proved the password and the new mailbox still works.
    const me = await f.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(user.accessToken),
    });
    expect(me.json<{ email: string }>().email).toBe(newEmail);
  });
});
