/*
 * Shared by the lifecycle-matrix-inflight tests: ordering a write in flight against the end of
 * the session it was made on.
 */
import type { LightMyRequestResponse } from 'fastify';
import { expect, vi } from 'vitest';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { Sessions } from '../../src/tokens/sessions.js';
import type { TestApp } from '../helpers/app.js';
import { holdNextPasswordCheck } from '../helpers/hold-password-check.js';
import { bearer, type LoggedIn } from '../helpers/identity.js';

/** The failure events of `type` with reason `session_ended` recorded so far. */
export function endedFailures(
  events: RecordedSecurityEvent[],
  type: string,
): RecordedSecurityEvent[] {
  return events.filter(
    (e) => e.type === type && e.outcome === 'failure' && e.details?.reason === 'session_ended',
  );
}

/** Ends session `victim` from `owner`, another session of the same account (the session list). */
export async function endFromList(t: TestApp, owner: LoggedIn, victim: LoggedIn): Promise<void> {
  const end = await t.app.inject({
    method: 'DELETE',
    url: `/api/v1/auth/sessions/${victim.sessionId}`,
    headers: bearer(owner.accessToken),
  });
  expect(end.statusCode, end.body).toBe(204);
}

/**
 * Runs `request` and, once it has checked the password, `meanwhile`; then lets it go on. Returns
 * its answer.
 */
export async function afterPasswordCheck(
  t: TestApp,
  request: () => Promise<LightMyRequestResponse>,
  meanwhile: () => Promise<void>,
): Promise<LightMyRequestResponse> {
  const held = holdNextPasswordCheck(t.app);
  let answer: Promise<LightMyRequestResponse>;
  try {
    answer = request();
    await held.checking;
    await meanwhile();
  } finally {
    held.release();
  }
  return answer;
}

/**
 * Holds the next `Sessions.endAll` (a disabling, demotion or deletion calls it once its change is
 * committed): `reached` resolves when the request gets there, `release` lets it end the sessions.
 */
export function pauseNextEndAll(t: TestApp): { reached: Promise<void>; release: () => void } {
  const { sessions } = t.app.services;
  const realEndAll = sessions.endAll.bind(sessions);
  let entered!: () => void;
  const reached = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  vi.spyOn(Sessions.prototype, 'endAll').mockImplementationOnce(async (...args) => {
    entered();
    await released;
    return realEndAll(...args);
  });
  return { reached, release };
}
