import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { bearer, STRONG_PASSWORD } from '../helpers/identity.js';

/** The part of a light-my-request response these tests read. */
export interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
  json: () => unknown;
}

/** Asserts an RFC 9457 problem document with `status` and `code`, and returns its body. */
export function expectProblem(res: Answer, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:bulwark:problem:${code}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.requestId).toBe(res.headers['x-request-id']);
  return body;
}

/** The `errors` member of a problem document. */
export function fieldErrors(body: Record<string, unknown>): { path: string; message: string }[] {
  return body.errors as { path: string; message: string }[];
}

/** Records every security event the app emits from now on. */
export function captureEvents(app: BulwarkApp): RecordedSecurityEvent[] {
  const events: RecordedSecurityEvent[] = [];
  app.services.events.addSink({ record: (event) => void events.push(event) });
  return events;
}

export function register(
  app: BulwarkApp,
  payload: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/api/v1/auth/register', payload });
}

export function postLogin(
  app: BulwarkApp,
  email: string,
  password = STRONG_PASSWORD,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
    headers,
  });
}

export function postRefresh(
  app: BulwarkApp,
  refreshToken: string,
): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
}

/** GET /api/v1/users/me: the quickest way to ask whether an access token still works. */
export function getMe(app: BulwarkApp, accessToken: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(accessToken) });
}

/** An administrator disables or enables a user (PATCH /api/v1/users/:id), and it is done. */
export async function setDisabled(
  app: BulwarkApp,
  adminToken: string,
  userId: string,
  disabled: boolean,
): Promise<void> {
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${userId}`,
    headers: bearer(adminToken),
    payload: { disabled },
  });
  expect(res.statusCode, res.body).toBe(200);
}

/** Asserts that an access token is refused as invalid_token, with the RFC 6750 challenge. */
export async function expectAccessRefused(app: BulwarkApp, accessToken: string): Promise<void> {
  const res = await getMe(app, accessToken);
  expectProblem(res, 401, 'invalid_token');
  expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
}

/** Asserts that an access token still reaches /users/me. */
export async function expectAccessWorks(app: BulwarkApp, accessToken: string): Promise<void> {
  const res = await getMe(app, accessToken);
  expect(res.statusCode, res.body).toBe(200);
}

/** Asserts that a refresh token is refused as invalid_refresh_token. */
export async function expectRefreshRefused(app: BulwarkApp, refreshToken: string): Promise<void> {
  expectProblem(await postRefresh(app, refreshToken), 401, 'invalid_refresh_token');
}

/** Exchanges a refresh token that must still work; returns the new pair. */
export async function refreshOk(
  app: BulwarkApp,
  refreshToken: string,
): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await postRefresh(app, refreshToken);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ accessToken: string; refreshToken: string }>();
}
