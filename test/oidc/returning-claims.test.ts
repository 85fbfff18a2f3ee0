import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcFixture, signIn, type OidcFixture } from './support.js';

/*
 * A returning provider account is found by iss + sub; the email it reports now is kept only for
 * display. Whatever that email is, it must neither fail the sign-in (a NUL, which PostgreSQL's
 * text type refuses, made it a 500) nor be stored when the first sign-in would have refused it.
 */

let f: OidcFixture;
beforeAll(async () => {
  f = await oidcFixture([{ sub: 'ret-sub', email: 'ret@example.com', email_verified: true }]);
});
afterAll(async () => {
  await f?.close();
});

async function identityEmail(): Promise<string | null | undefined> {
  const row = await f.testDb.db.kysely
    .selectFrom('identities')
    .select('email')
    .where('subject', '=', 'ret-sub')
    .executeTakeFirst();
  return row?.email;
}

describe('the email a returning provider account reports', () => {
  it('is kept for display when it is a valid address', async () => {
    const first = await signIn(f, 'ret-sub');
    f.provider.account({ sub: 'ret-sub', email: 'Ret.New@example.com', email_verified: true });
    expect((await signIn(f, 'ret-sub')).user.id).toBe(first.user.id);
    expect(await identityEmail()).toBe('Ret.New@example.com');
  });

  it.each([
    ['a NUL', 'ret\u0000@example.com'],
    ['an escape sequence', 'ret\u001b[2J@example.com'],
    ['a bidi override', 'ret\u202e@example.com'],
    ['no address at all', 'not an address'],
  ])('with %s, still signs in and keeps the last valid one', async (_name, email) => {
    const before = await identityEmail();
    f.provider.account({ sub: 'ret-sub', email, email_verified: true });
    await signIn(f, 'ret-sub');
    expect(await identityEmail()).toBe(before);
  });
});
