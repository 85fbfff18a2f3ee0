import { expect } from 'vitest';
import type { ConfigInput } from '../../src/config/index.js';
import type { RecordedSecurityEvent, SecurityEventType } from '../../src/security-events.js';
import { totpCode } from '../../src/crypto/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerAndLogin, type LoggedIn } from '../helpers/identity.js';
import { enrolMfa, loginWith, STEP_MS } from '../helpers/mfa.js';
import { TestOidcProvider, type TestAccount } from '../helpers/oidc-provider.js';

/** Where the app under test pretends to live; the tests call it through inject(). */
export const PUBLIC_URL = 'http://127.0.0.1:3999';
export const CALLBACK_PATH = '/api/v1/auth/oidc/test/callback';
export const APP_URL = 'https://app.example.test/signed-in';
export const OTHER_APP_URL = 'https://app.example.test/other';
export const LOGIN_COOKIE = '__Host-bulwark-oidc-login';
export const HANDOFF_COOKIE = '__Host-bulwark-oidc-handoff';

export interface OidcFixture extends TestApp {
  provider: TestOidcProvider;
  /** Moves the app's clock (not the provider's). */
  clock: { offsetMs: number };
  close(): Promise<void>;
}

/** A real provider on loopback and an app configured with it as provider "test". */
export async function oidcFixture(
  accounts: TestAccount[],
  providerSettings:
    Record<string, unknown> | ((provider: TestOidcProvider) => Record<string, unknown>) = {},
  input: ConfigInput = {},
  providerOptions: {
    privateKeyJwt?: boolean;
    claimsInUserInfoOnly?: boolean;
    claimsParameter?: boolean;
    /** Where the app really listens, when a test calls it over the network (PUBLIC_URL). */
    publicUrl?: string;
  } = {},
): Promise<OidcFixture> {
  const { publicUrl = PUBLIC_URL, ...options } = providerOptions;
  const provider = await TestOidcProvider.start({
    redirectUris: [`${publicUrl}${CALLBACK_PATH}`],
    accounts,
    ...options,
  });
  const settings =
    typeof providerSettings === 'function' ? providerSettings(provider) : providerSettings;
  const clock = { offsetMs: 0 };
  try {
    const t = await buildTestApp(
      {
        ...input,
        oidc: {
          providers: {
            test: {
              issuer: provider.issuer,
              clientId: provider.clientId,
              ...(settings.privateKeyFile === undefined
                ? { clientSecret: provider.clientSecret }
                : {}),
              redirectUri: `${publicUrl}${CALLBACK_PATH}`,
              appUrls: [APP_URL, OTHER_APP_URL],
              ...settings,
            },
          },
        },
      },
      { now: () => Date.now() + clock.offsetMs },
    );
    return {
      ...t,
      provider,
      clock,
      async close() {
        await t.app.close();
        await provider.stop();
      },
    };
  } catch (error) {
    await provider.stop();
    throw error;
  }
}

/** Set-Cookie headers of a response, as an array. */
export function setCookies(headers: Record<string, unknown>): string[] {
  const value = headers['set-cookie'];
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as string[]) : [value as string];
}

/** The value a response set for cookie `name` (undefined when it set none or cleared it). */
export function cookieValue(headers: Record<string, unknown>, name: string): string | undefined {
  const lines = setCookies(headers).filter((l) => l.startsWith(`${name}=`));
  const last = lines[lines.length - 1];
  if (!last) return undefined;
  const value = last.slice(name.length + 1).split(';')[0]!;
  return value === '' ? undefined : value;
}

export interface Started {
  /** The provider's authorization URL. */
  location: URL;
  /** The sealed login cookie value. */
  loginCookie: string;
}

export async function startSignIn(f: OidcFixture, query = ''): Promise<Started> {
  const res = await f.app.inject({ method: 'GET', url: `/api/v1/auth/oidc/test${query}` });
  expect(res.statusCode, res.body).toBe(302);
  const loginCookie = cookieValue(res.headers, LOGIN_COOKIE);
  expect(loginCookie).toBeDefined();
  return { location: new URL(res.headers.location as string), loginCookie: loginCookie! };
}

/** Calls the app's callback with what the provider redirected to and the login cookie. */
export async function deliverCallback(f: OidcFixture, callback: URL, loginCookie?: string) {
  return f.app.inject({
    method: 'GET',
    url: `${callback.pathname}${callback.search}`,
    headers: loginCookie === undefined ? {} : { cookie: `${LOGIN_COOKIE}=${loginCookie}` },
  });
}

export interface Handoff {
  code: string;
  browserSecret: string;
  location: URL;
}

/** Start → provider login/consent as `sub` → callback, expecting success (303 to the app). */
export async function signInToHandoff(f: OidcFixture, sub: string, query = ''): Promise<Handoff> {
  const started = await startSignIn(f, query);
  const callback = await f.provider.authorize(started.location.href, sub);
  const res = await deliverCallback(f, callback, started.loginCookie);
  expect(res.statusCode, res.body).toBe(303);
  const location = new URL(res.headers.location as string);
  const code = new URLSearchParams(location.hash.slice(1)).get('oidc_code');
  expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const browserSecret = cookieValue(res.headers, HANDOFF_COOKIE);
  expect(browserSecret).toBeDefined();
  return { code: code!, browserSecret: browserSecret!, location };
}

/** POST /api/v1/auth/oidc/exchange, with the hand-off cookie and an MFA code when given. */
export async function exchange(
  f: OidcFixture,
  code: string,
  browserSecret?: string,
  mfaCode?: string,
) {
  return f.app.inject({
    method: 'POST',
    url: '/api/v1/auth/oidc/exchange',
    payload: mfaCode === undefined ? { code } : { code, mfaCode },
    headers: browserSecret === undefined ? {} : { cookie: `${HANDOFF_COOKIE}=${browserSecret}` },
  });
}

export interface SignedIn {
  accessToken: string;
  refreshToken: string;
  user: { id: string; email: string; emailVerified: boolean; name: string };
}

/** The whole flow, expecting a token pair. */
export async function signIn(f: OidcFixture, sub: string): Promise<SignedIn> {
  const handoff = await signInToHandoff(f, sub);
  const res = await exchange(f, handoff.code, handoff.browserSecret);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<SignedIn>();
}

/** Security events of `type` the app has logged so far. */
export function events(f: OidcFixture, type: SecurityEventType): RecordedSecurityEvent[] {
  return f.logs.lines
    .map((line) => line.securityEvent as RecordedSecurityEvent | undefined)
    .filter((e): e is RecordedSecurityEvent => e?.type === type);
}

/** The newest `oidc.login_failed` reason. */
export function lastFailure(f: OidcFixture): unknown {
  const failed = events(f, 'oidc.login_failed');
  return failed[failed.length - 1]?.details?.reason;
}

/** Disables an account straight in the database (the administrator's route is tested elsewhere). */
export async function disableUser(f: OidcFixture, userId: string): Promise<void> {
  await f.testDb.db.kysely
    .updateTable('users')
    .set({ disabled: 1 })
    .where('id', '=', userId)
    .execute();
}

/**
 * A password account whose address counts as verified, so a provider identity with the same
 * verified email may be linked to it (set in the database: sign-ups are not verified).
 */
export async function verifiedPasswordUser(f: OidcFixture): Promise<LoggedIn> {
  const user = await registerAndLogin(f.app);
  await f.testDb.db.kysely
    .updateTable('users')
    .set({ email_verified: 1 })
    .where('id', '=', user.id)
    .execute();
  return user;
}

/** The app's time in a fixture (its clock moves; the provider's does not). */
export function appNow(f: OidcFixture): number {
  return Date.now() + f.clock.offsetMs;
}

/**
 * A password account with a verified email, linked to provider account `sub`, then MFA on. Its
 * access token is from a fresh sign-in with a code (turning MFA on ended the other sessions);
 * the clock is moved past the steps whose codes were used.
 */
export async function linkedWithMfa(
  f: OidcFixture,
  sub: string,
): Promise<{ user: LoggedIn; secret: string }> {
  const user = await registerAndLogin(f.app);
  await f.app.services.usersRepo.update(user.id, { email_verified: 1 });
  f.provider.account({ sub, email: user.email, email_verified: true });
  expect((await signIn(f, sub)).user.id).toBe(user.id);
  const { secret } = await enrolMfa(f.app, user.accessToken, appNow(f));
  f.clock.offsetMs += STEP_MS;
  const login = await loginWith(f.app, user.email, { mfaCode: totpCode(secret, appNow(f)) });
  expect(login.statusCode, login.body).toBe(200);
  f.clock.offsetMs += STEP_MS;
  return {
    user: { ...user, accessToken: login.json<{ accessToken: string }>().accessToken },
    secret,
  };
}
