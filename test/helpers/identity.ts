import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { BulwarkApp } from '../../src/app.js';

/**
 * A password that passes the policy. Random-looking rather than a passphrase: zxcvbn checks it in
 * a third of the time of 'correct horse battery staple 42' (fewer dictionary matches), and the
 * suite checks it well over a thousand times a run. It holds an "a" (password-change.test.ts).
 */
export const STRONG_PASSWORD = 'Vq7a pL2m Z9wR 4tKx';

export interface LoggedIn {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/**
 * A unique email per call, so tests never collide: 48 random bits. With 32, a file that makes
 * 300 users gave two of them one address (409 email_taken) about once in 100 000 runs.
 */
export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}@example.com`;
}

/** Decodes a JWT payload without verifying it (for assertions only). */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * `claims` (with a new jti) signed with the app's own current key, as it signs access tokens:
 * for tokens the app would never issue (no auth_time, a hostile claim) that only its claim
 * checks can refuse.
 */
export async function signedByServer(
  app: BulwarkApp,
  claims: Record<string, unknown>,
): Promise<string> {
  const signing = app.services.signingKeys.signingKey();
  return new SignJWT({ ...claims, jti: randomUUID() })
    .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt' })
    .sign(signing.keyObject);
}

export async function login(
  app: BulwarkApp,
  email: string,
  password = STRONG_PASSWORD,
): Promise<LoggedIn> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
  });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const body = res.json<{ accessToken: string; refreshToken: string; user: { id: string } }>();
  return {
    id: body.user.id,
    email,
    password,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    sessionId: jwtPayload(body.accessToken).sid as string,
  };
}

/** Registers a user through the API (role: the default) and logs it in. */
export async function registerAndLogin(
  app: BulwarkApp,
  options: { email?: string; name?: string; password?: string } = {},
): Promise<LoggedIn> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? STRONG_PASSWORD;
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { email, password, name: options.name ?? 'Test User' },
  });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  return login(app, email, password);
}

/** Creates a user with any role directly through the service (as `bulwark user create` does) and logs it in. */
export async function createUserAndLogin(
  app: BulwarkApp,
  role: string,
  options: { email?: string; password?: string } = {},
): Promise<LoggedIn> {
  const email = options.email ?? uniqueEmail(role);
  const password = options.password ?? STRONG_PASSWORD;
  await app.services.users.create({ email, password, name: `Test ${role}`, role }, {});
  return login(app, email, password);
}
