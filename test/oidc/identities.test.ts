import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, registerAndLogin } from '../helpers/identity.js';
import { events, oidcFixture, signIn, verifiedPasswordUser, type OidcFixture } from './support.js';

/* GET and DELETE /api/v1/users/me/identities: own identities only, never the last way in. */

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([], { allowLinkingVerifiedEmail: true });
});
afterAll(async () => {
  await f.close();
});

async function list(token: string): Promise<{ id: string; provider: string }[]> {
  const res = await f.app.inject({
    method: 'GET',
    url: '/api/v1/users/me/identities',
    headers: bearer(token),
  });
  expect(res.statusCode).toBe(200);
  return res.json<{ items: { id: string; provider: string }[] }>().items;
}

function unlink(token: string, id: string) {
  return f.app.inject({
    method: 'DELETE',
    url: `/api/v1/users/me/identities/${id}`,
    headers: bearer(token),
  });
}

describe('linked identities', () => {
  it('needs authentication', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/users/me/identities'],
      ['DELETE', `/api/v1/users/me/identities/${randomUUID()}`],
    ] as const) {
      const res = await f.app.inject({ method, url });
      expect(res.statusCode, url).toBe(401);
    }
  });

  it('never unlinks the last way to sign in', async () => {
    f.provider.account({ sub: 'only-idp', email: 'only-idp@example.com', email_verified: true });
    const signedIn = await signIn(f, 'only-idp');
    const [identity] = await list(signedIn.accessToken);
    const res = await unlink(signedIn.accessToken, identity!.id);
    expect(res.statusCode).toBe(409);
    expect(res.json<{ code: string }>().code).toBe('last_sign_in_method');
    expect(await list(signedIn.accessToken)).toHaveLength(1);
  });

  it("answers 404 for someone else's identity and leaves it alone", async () => {
    f.provider.account({
      sub: 'victim-idp',
      email: 'victim-idp@example.com',
      email_verified: true,
    });
    const victim = await signIn(f, 'victim-idp');
    const [victimIdentity] = await list(victim.accessToken);
    const attacker = await registerAndLogin(f.app);
    const res = await unlink(attacker.accessToken, victimIdentity!.id);
    expect(res.statusCode).toBe(404);
    expect(res.json<{ code: string }>().code).toBe('not_found');
    const denied = events(f, 'access.denied').at(-1)!;
    expect(denied.actorId).toBe(attacker.id);
    expect(denied.target).toEqual({ type: 'identity', id: victimIdentity!.id });
    expect(await list(victim.accessToken)).toHaveLength(1);
    // The attacker's own list never shows it.
    expect(await list(attacker.accessToken)).toEqual([]);
    // An unknown id looks the same.
    const unknown = await unlink(attacker.accessToken, randomUUID());
    expect(unknown.statusCode).toBe(404);
    const malformed = await unlink(attacker.accessToken, 'not-a-uuid');
    expect(malformed.statusCode).toBe(400);
  });

  it('unlinks an identity when a password remains, and the next sign-in links afresh', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'owner-idp', email: owner.email, email_verified: true });
    expect((await signIn(f, 'owner-idp')).user.id).toBe(owner.id);
    const [identity] = await list(owner.accessToken);
    const res = await unlink(owner.accessToken, identity!.id);
    expect(res.statusCode).toBe(204);
    expect(await list(owner.accessToken)).toEqual([]);
    const unlinked = events(f, 'oidc.identity_unlinked').at(-1)!;
    expect(unlinked.actorId).toBe(owner.id);
    expect(unlinked.target).toEqual({ type: 'identity', id: identity!.id });
    // Unlinking twice: 404.
    expect((await unlink(owner.accessToken, identity!.id)).statusCode).toBe(404);
  });

  it('unlinks an identity named by the upper-case spelling of its id', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'upper-idp', email: owner.email, email_verified: true });
    expect((await signIn(f, 'upper-idp')).user.id).toBe(owner.id);
    const [identity] = await list(owner.accessToken);
    const res = await unlink(owner.accessToken, identity!.id.toUpperCase());
    expect(res.statusCode, res.body).toBe(204);
    expect(await list(owner.accessToken)).toEqual([]);
    const unlinked = events(f, 'oidc.identity_unlinked').at(-1)!;
    expect(unlinked.target).toEqual({ type: 'identity', id: identity!.id });
  });

  it('deletes identities with their user', async () => {
    f.provider.account({ sub: 'leaver', email: 'leaver@example.com', email_verified: true });
    const signedIn = await signIn(f, 'leaver');
    const res = await f.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${signedIn.user.id}`,
      headers: bearer(signedIn.accessToken),
    });
    expect(res.statusCode).toBe(204);
    const rows = await f.testDb.db.kysely
      .selectFrom('identities')
      .select('id')
      .where('user_id', '=', signedIn.user.id)
      .execute();
    expect(rows).toEqual([]);
    // Signing in again creates a new account rather than failing on a dangling identity.
    const again = await signIn(f, 'leaver');
    expect(again.user.id).not.toBe(signedIn.user.id);
  });
});
