import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/identity.js';
import { oidcFixture, signIn, type OidcFixture } from './support.js';

/*
 * "Never the last way to sign in" must hold when an account's two identities are unlinked at
 * the same moment (two tabs, a double click on two rows): each request alone sees another
 * identity left, and together they would leave an account nobody can sign in to.
 */

let f: OidcFixture;
beforeAll(async () => {
  f = await oidcFixture([], { allowLinkingVerifiedEmail: true });
});
afterAll(async () => {
  await f?.close();
});

describe('unlinking two identities at once', () => {
  it('keeps one of them when the account has no password', async () => {
    f.provider.account({ sub: 'race-a', email: 'race@example.com', email_verified: true });
    f.provider.account({ sub: 'race-b', email: 'race@example.com', email_verified: true });
    const a = await signIn(f, 'race-a');
    const b = await signIn(f, 'race-b');
    expect(b.user.id).toBe(a.user.id);
    const listed = await f.app.inject({
      method: 'GET',
      url: '/api/v1/users/me/identities',
      headers: bearer(a.accessToken),
    });
    const ids = listed.json<{ items: { id: string }[] }>().items.map((i) => i.id);
    expect(ids).toHaveLength(2);
    const answers = await Promise.all(
      ids.map((id) =>
        f.app.inject({
          method: 'DELETE',
          url: `/api/v1/users/me/identities/${id}`,
          headers: bearer(a.accessToken),
        }),
      ),
    );
    expect(answers.map((r) => r.statusCode).sort()).toEqual([204, 409]);
    const left = await f.testDb.db.kysely
      .selectFrom('identities')
      .select('id')
      .where('user_id', '=', a.user.id)
      .execute();
    expect(left).toHaveLength(1);
  });
});
