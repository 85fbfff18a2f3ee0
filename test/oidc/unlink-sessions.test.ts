import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthService } from '../../src/auth/auth-service.js';
import { bearer, login } from '../helpers/identity.js';
import {
  events,
  exchange,
  oidcFixture,
  signIn,
  signInToHandoff,
  type OidcFixture,
  type SignedIn,
  verifiedPasswordUser,
} from './support.js';

/*
 * Unlinking a provider identity signs out what it signed in. The owner who sees an unexpected
 * sign-in through a linked provider account (a takeover of that account) unlinks it; the
 * intruder's session, and its refresh token, must end with it, not live on for weeks. The
 * session doing the unlinking stays, as on a password change, and sessions signed in otherwise
 * (password, another identity) are untouched.
 */

let f: OidcFixture;
beforeAll(async () => {
  f = await oidcFixture([], { allowLinkingVerifiedEmail: true });
});
afterAll(async () => {
  await f?.close();
});

async function identities(token: string): Promise<{ id: string }[]> {
  const res = await f.app.inject({
    method: 'GET',
    url: '/api/v1/users/me/identities',
    headers: bearer(token),
  });
  expect(res.statusCode).toBe(200);
  return res.json<{ items: { id: string }[] }>().items;
}

function unlink(token: string, id: string) {
  return f.app.inject({
    method: 'DELETE',
    url: `/api/v1/users/me/identities/${id}`,
    headers: bearer(token),
  });
}

async function meStatus(token: string): Promise<number> {
  const res = await f.app.inject({
    method: 'GET',
    url: '/api/v1/users/me',
    headers: bearer(token),
  });
  return res.statusCode;
}

async function refreshStatus(token: string): Promise<number> {
  const res = await f.app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refreshToken: token },
  });
  return res.statusCode;
}

async function endReasons(userId: string): Promise<(string | null)[]> {
  const rows = await f.testDb.db.kysely
    .selectFrom('sessions')
    .select(['end_reason'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute();
  return rows.map((r) => r.end_reason);
}

describe('unlinking an identity', () => {
  // It removes a way to sign in and ends sessions: an access token alone (stolen, or from a
  // session refreshed for weeks) is not enough, as for deleting the account.
  it('needs a recent sign-in: an older session is challenged, and nothing is unlinked', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'old-session', email: owner.email, email_verified: true });
    const viaProvider = await signIn(f, 'old-session');
    const [identity] = await identities(owner.accessToken);
    const later = 601_000; // access.recentSignInSeconds (600) and one
    f.clock.offsetMs += later;
    try {
      const res = await unlink(owner.accessToken, identity!.id);
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json()).toMatchObject({ code: 'insufficient_user_authentication' });
      expect(res.headers['www-authenticate']).toContain('max_age=600');
      expect(events(f, 'access.denied').at(-1)).toMatchObject({
        actorId: owner.id,
        details: { reason: 'sign_in_too_old' },
      });
      expect(await identities(owner.accessToken)).toHaveLength(1);
      expect(await meStatus(viaProvider.accessToken)).toBe(200);
      // Signed in again, the owner unlinks it.
      const again = await login(f.app, owner.email);
      expect((await unlink(again.accessToken, identity!.id)).statusCode).toBe(204);
      expect(await meStatus(viaProvider.accessToken)).toBe(401);
    } finally {
      f.clock.offsetMs -= later;
    }
  });

  it('ends the sessions it signed in, their refresh tokens with them, and no others', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'taken-over', email: owner.email, email_verified: true });
    const intruder: SignedIn = await signIn(f, 'taken-over');
    const intruderAgain: SignedIn = await signIn(f, 'taken-over');
    expect(intruder.user.id).toBe(owner.id);
    const [identity] = await identities(owner.accessToken);

    const res = await unlink(owner.accessToken, identity!.id);
    expect(res.statusCode).toBe(204);
    for (const signedIn of [intruder, intruderAgain]) {
      expect(await meStatus(signedIn.accessToken)).toBe(401);
      expect(await refreshStatus(signedIn.refreshToken)).toBe(401);
    }
    // The owner's password session is the one that unlinked: it stays.
    expect(await meStatus(owner.accessToken)).toBe(200);
    expect(await refreshStatus(owner.refreshToken)).toBe(200);
    const ended = events(f, 'session.ended').at(-1)!;
    expect(ended).toMatchObject({
      actorId: owner.id,
      target: { type: 'user', id: owner.id },
      details: { reason: 'identity_unlinked', sessions: 2 },
    });
    expect(await endReasons(owner.id)).toEqual([null, 'identity_unlinked', 'identity_unlinked']);
  });

  it('keeps the session doing the unlinking even when that identity signed it in', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'self-unlink', email: owner.email, email_verified: true });
    const here = await signIn(f, 'self-unlink');
    const elsewhere = await signIn(f, 'self-unlink');
    const [identity] = await identities(here.accessToken);
    expect((await unlink(here.accessToken, identity!.id)).statusCode).toBe(204);
    expect(await meStatus(here.accessToken)).toBe(200);
    expect(await meStatus(elsewhere.accessToken)).toBe(401);
    expect(await meStatus(owner.accessToken)).toBe(200);
  });

  it("leaves the sessions of the account's other identity alone", async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'two-a', email: owner.email, email_verified: true });
    f.provider.account({ sub: 'two-b', email: owner.email, email_verified: true });
    const viaA = await signIn(f, 'two-a');
    const viaB = await signIn(f, 'two-b');
    expect(viaB.user.id).toBe(owner.id);
    const listed = await identities(owner.accessToken);
    expect(listed).toHaveLength(2);
    // Which row is two-a: the one whose unlink ends viaA.
    const rows = await f.testDb.db.kysely
      .selectFrom('identities')
      .select(['id', 'subject'])
      .where('user_id', '=', owner.id)
      .execute();
    const a = rows.find((r) => r.subject === 'two-a')!;
    expect((await unlink(owner.accessToken, a.id)).statusCode).toBe(204);
    expect(await meStatus(viaA.accessToken)).toBe(401);
    expect(await meStatus(viaB.accessToken)).toBe(200);
  });

  it('ends a sign-in through it whose session starts while it is unlinked', async () => {
    const owner = await verifiedPasswordUser(f);
    f.provider.account({ sub: 'mid-exchange', email: owner.email, email_verified: true });
    expect((await signIn(f, 'mid-exchange')).user.id).toBe(owner.id);
    const [identity] = await identities(owner.accessToken);
    const handoff = await signInToHandoff(f, 'mid-exchange');

    // The exchange has found the identity linked; the owner's unlink lands before its session
    // starts (that unlink finds no session of this sign-in to end yet).
    const auth = f.app.services.auth;
    const original = auth.startSession.bind(auth);
    auth.startSession = async (...args: Parameters<AuthService['startSession']>) => {
      auth.startSession = original;
      expect((await unlink(owner.accessToken, identity!.id)).statusCode).toBe(204);
      return original(...args);
    };
    try {
      const res = await exchange(f, handoff.code, handoff.browserSecret);
      expect(res.statusCode).toBe(400);
      expect(res.json<{ code: string }>().code).toBe('oidc_code_invalid');
      expect(res.json<Record<string, unknown>>()).not.toHaveProperty('accessToken');
    } finally {
      auth.startSession = original;
    }
    expect(events(f, 'oidc.code_rejected').at(-1)!.details).toEqual({ reason: 'identity_gone' });
    // Every session of the account but the owner's has ended.
    const open = await f.testDb.db.kysely
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', owner.id)
      .where('ended_at', 'is', null)
      .execute();
    expect(open.map((r) => r.id)).toEqual([owner.sessionId]);
  });
});
