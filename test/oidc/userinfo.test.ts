import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from '../helpers/oidc-provider.js';
import {
  deliverCallback,
  events,
  lastFailure,
  oidcFixture,
  signIn,
  startSignIn,
  type OidcFixture,
} from './support.js';

// A provider that follows OIDC Core 5.4 to the letter: in the code flow the ID token carries only
// the protocol claims, and the email and name come from the UserInfo endpoint.
let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture(
    [
      { sub: 'uma-sub', email: 'Uma@Example.com', email_verified: true, name: 'Uma Info' },
      { sub: 'vic-sub', email: 'vic@example.com', email_verified: false, name: 'Vic' },
      { sub: 'nomail-sub', name: 'No Mail' },
    ],
    // Trusted to verify addresses, so its email_verified (from UserInfo here) reaches the account.
    { allowLinkingVerifiedEmail: true },
    {},
    { claimsInUserInfoOnly: true },
  );
});
afterAll(async () => {
  await f.close();
});
afterEach(() => {
  f.provider.tamper = undefined;
  f.provider.tamperUserInfo = undefined;
});

async function refusedCallback(sub: string) {
  const started = await startSignIn(f);
  const callback = await f.provider.authorize(started.location.href, sub);
  return deliverCallback(f, callback, started.loginCookie);
}

describe('email and name from the UserInfo endpoint', () => {
  it('completes the ID token from UserInfo when it carries no email', async () => {
    let idTokenPayload: Record<string, unknown> = {};
    f.provider.tamper = (body) => {
      idTokenPayload = decodeJwt(body.id_token!).payload;
      return body;
    };
    const before = f.provider.userInfoRequests;
    const signedIn = await signIn(f, 'uma-sub');
    // The provider really left the email out of the ID token, and UserInfo was asked once.
    expect(idTokenPayload.sub).toBe('uma-sub');
    expect(idTokenPayload.email).toBeUndefined();
    expect(f.provider.userInfoRequests).toBe(before + 1);
    expect(signedIn.user).toMatchObject({
      email: 'uma@example.com',
      emailVerified: true,
      name: 'Uma Info',
    });
  });

  it('keeps an unverified UserInfo email unverified', async () => {
    const signedIn = await signIn(f, 'vic-sub');
    expect(signedIn.user).toMatchObject({ email: 'vic@example.com', emailVerified: false });
  });

  it('refuses UserInfo that describes another account than the ID token', async () => {
    f.provider.tamperUserInfo = (body) => ({
      ...body,
      sub: 'someone-else',
      email: 'victim@example.com',
      email_verified: true,
    });
    const res = await refusedCallback('uma-sub');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'oidc_id_token_invalid' });
    expect(lastFailure(f)).toBe('userinfo_subject_mismatch');
    expect(res.body).not.toContain('victim@example.com');
  });

  it('never lets UserInfo override a claim the ID token carries', async () => {
    f.provider.tamper = (body) => ({
      ...body,
      id_token: f.provider.resign(body.id_token!, (t) => {
        t.payload.email = 'uma@example.com';
        t.payload.email_verified = false;
      }),
    });
    const before = f.provider.userInfoRequests;
    f.provider.tamperUserInfo = (body) => ({ ...body, email_verified: true });
    const signedIn = await signIn(f, 'uma-sub');
    // The ID token had an email: UserInfo was not asked, and its say does not count.
    expect(f.provider.userInfoRequests).toBe(before);
    expect(signedIn.user.email).toBe('uma@example.com');
  });

  it('answers 502 when UserInfo fails, and records why', async () => {
    f.provider.tamperUserInfo = () => {
      throw new Error('userinfo down');
    };
    const res = await refusedCallback('uma-sub');
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ code: 'oidc_provider_unavailable' });
    expect(lastFailure(f)).toBe('userinfo_failed');
  });

  it('still refuses an account whose provider shares no email anywhere', async () => {
    const res = await refusedCallback('nomail-sub');
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'oidc_email_required' });
    expect(lastFailure(f)).toBe('no_email');
    expect(events(f, 'oidc.login_failed').at(-1)?.outcome).toBe('failure');
  });
});
