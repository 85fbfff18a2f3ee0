/*
 * Shared by the lifecycle-matrix-inflight tests: ordering a write in flight against the end of
 * the session it was made on.
 */
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
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

/**
 * PostgreSQL only: locks the users row of `userId` from a transaction of the test's own, as a
 * write of another request would, until `release`. `waitedOn` resolves once a statement waits
 * for that lock: a write held there has taken its statement's snapshot, so what commits before
 * `release` lands while that statement runs.
 */
export async function lockUserRow(
  t: TestApp,
  userId: string,
): Promise<{ waitedOn: () => Promise<void>; release: () => Promise<void> }> {
  const { kysely } = t.app.services.db;
  let locked!: (pid: number) => void;
  let failed!: (error: unknown) => void;
  const holder = new Promise<number>((resolve, reject) => {
    locked = resolve;
    failed = reject;
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const done = kysely.transaction().execute(async (trx) => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
    await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute();
    locked(rows[0]!.pid);
    await released;
  });
  done.catch(failed);
  const pid = await holder;
  return {
    waitedOn: () =>
      vi.waitFor(
        async () => {
          const { rows } = await sql<{ waiting: number }>`
            select count(*)::int as waiting from pg_stat_activity
            where ${pid}::int = any(pg_blocking_pids(pid))`.execute(kysely);
          expect(rows[0]!.waiting).toBeGreaterThan(0);
        },
        { timeout: 5_000, interval: 20 },
      ),
    release: async () => {
      release();
      await done;
    },
  };
}
