import { expect } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import type { RecordedSecurityEvent, SecurityEventType } from '../../src/security-events.js';
import type { LogCapture } from './app.js';
import { bearer } from './identity.js';

/** The SPEC's `User`, key for key: a response with any other member leaks something. */
export const USER_KEYS = [
  'createdAt',
  'email',
  'emailVerified',
  'id',
  'mfaEnabled',
  'name',
  'phone',
  'role',
  'updatedAt',
] as const;

export interface UserBody {
  id: string;
  email: string;
  name: string;
  role: string;
  phone: string | null;
  emailVerified: boolean;
  mfaEnabled: boolean;
  createdAt: string;
  updatedAt: string;
}

// What a stored row would show if a response ever serialised one: the hash, its PHC prefix,
// the encrypted column's name and the field-cipher envelope tag.
const ROW_LEAKS = ['password_hash', '$argon2', 'phone_enc', 'bwf1.'];

/** Asserts that a raw response body carries no stored-row internals. */
export function expectNoRowLeak(raw: string): void {
  for (const leak of ROW_LEAKS) expect(raw, leak).not.toContain(leak);
}

/** Asserts `value` is exactly a SPEC `User` (no extra keys, right types) and returns it typed. */
export function expectUser(value: unknown): UserBody {
  expect(value).toBeTypeOf('object');
  const user = value as UserBody;
  expect(Object.keys(user).sort()).toEqual([...USER_KEYS]);
  expect(user.id).toMatch(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  expect(user.email).toBeTypeOf('string');
  expect(user.name).toBeTypeOf('string');
  expect(user.role).toBeTypeOf('string');
  expect(user.phone === null || typeof user.phone === 'string').toBe(true);
  expect(user.emailVerified).toBeTypeOf('boolean');
  expect(user.mfaEnabled).toBeTypeOf('boolean');
  for (const time of [user.createdAt, user.updatedAt]) {
    expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  return user;
}

/** Asserts a response is a problem document with `status` and `code`; returns its body. */
export function expectProblem(
  res: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  code: string,
): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:bulwark:problem:${code}` });
  return body;
}

/** The security events the app has logged so far, optionally of one type. */
export function securityEvents(
  logs: LogCapture,
  type?: SecurityEventType,
): RecordedSecurityEvent[] {
  return logs.lines
    .map((line) => line.securityEvent as RecordedSecurityEvent | undefined)
    .filter((event): event is RecordedSecurityEvent => event !== undefined)
    .filter((event) => type === undefined || event.type === type);
}

/** GET /api/v1/users/me with `token`; the status says whether the token still works. */
export async function meStatus(app: BulwarkApp, token: string): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
  return res.statusCode;
}
