/*
 * Account lifecycle × writes in flight (see lifecycle-matrix-inflight.test.ts), one step further
 * in: the session ends while the write's own statement runs. On PostgreSQL a statement reads
 * the table as of its start; held on the account's row (locked by another write, here the
 * test's own transaction), it once checked an end committed meanwhile against that old picture
 * and let the password change or the address change through. The write must be refused (401
 * invalid_token, its failure event with reason session_ended) and change nothing; the same
 * write held the same way from a session that stays open must work. SQLite runs one write at a
 * time, so a statement cannot be overtaken there: PostgreSQL only.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import {
  bearer,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { loginWith } from '../helpers/mfa.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { captureEvents, expectAccessWorks, expectProblem, getMe } from '../auth/support.js';
import { endedFailures, endFromList, lockUserRow } from './inflight-support.js';

const CHANGE_PAGE = 'https://app.example.com/change-email';
const LINK = /^https:\/\/app\.example\.com\/[a-z-]+#token=([A-Za-z0-9_-]{43})$/m;
const INTRUDER_PASSWORD = 'copper falcon drizzle meadow 41';

describe.runIf(dialectUnderTest === 'postgres')(
  'a write whose statement waits on the account while its session ends',
  () => {
    let smtp: TestSmtpServer;
    let t: TestApp;
    let events: RecordedSecurityEvent[];

    beforeAll(async () => {
      smtp = await startSmtpServer();
      t = await buildTestApp({
        email: {
          smtpUrl: smtp.url(),
          from: 'Example <no-reply@example.com>',
          passwordResetUrl: 'https://app.example.com/reset-password',
          changeEmailUrl: CHANGE_PAGE,
          timeoutMs: 2_000,
        },
      });
      events = captureEvents(t.app);
    });
    afterAll(async () => {
      await t.app.close();
      await smtp.stop();
    });

    /**
     * Runs `request` with the users row of `userId` locked; once its write waits for the row,
     * runs `meanwhile`, then unlocks. Returns the request's answer.
     */
    async function whileWaitingOnAccount(
      userId: string,
      request: () => Promise<LightMyRequestResponse>,
      meanwhile: () => Promise<void>,
    ): Promise<LightMyRequestResponse> {
      const lock = await lockUserRow(t, userId);
      let answer: Promise<LightMyRequestResponse>;
      try {
        answer = request();
        await lock.waitedOn();
        await meanwhile();
      } finally {
        await lock.release();
      }
      return answer;
    }

    function changePassword(session: LoggedIn): Promise<LightMyRequestResponse> {
      return t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: bearer(session.accessToken),
        payload: { currentPassword: STRONG_PASSWORD, newPassword: INTRUDER_PASSWORD },
      });
    }

    function post(url: string, payload: Record<string, unknown>, accessToken: string) {
      return t.app.inject({
        method: 'POST',
        url: `/api/v1/auth${url}`,
        headers: bearer(accessToken),
        payload,
      });
    }

    /** An address change asked for from `session`: the token of its confirmation link. */
    async function changeLink(session: LoggedIn, newEmail: string): Promise<string> {
      const asked = await post(
        '/email/change',
        { newEmail, password: STRONG_PASSWORD },
        session.accessToken,
      );
      expect(asked.statusCode, asked.body).toBe(202);
      await t.app.services.accountEmail!.idle();
      const [token] = smtp.received
        .filter((m) => m.to.includes(newEmail))
        .map((m) => LINK.exec(m.text)?.[1]);
      expect(token).toBeDefined();
      return token!;
    }

    it('a password change (POST /auth/password) is refused: the password and the owner stay', async () => {
      const owner = await registerAndLogin(t.app);
      const intruder = await login(t.app, owner.email);
      const res = await whileWaitingOnAccount(
        owner.id,
        () => changePassword(intruder),
        () => endFromList(t, owner, intruder),
      );
      expectProblem(res, 401, 'invalid_token');
      expect(endedFailures(events, 'password.changed')).toContainEqual(
        expect.objectContaining({ actorId: owner.id }),
      );
      // The owner's session, which the change would have ended, goes on; the password is theirs.
      await expectAccessWorks(t.app, owner.accessToken);
      expectProblem(
        await loginWith(t.app, owner.email, {}, INTRUDER_PASSWORD),
        401,
        'invalid_credentials',
      );
      expect((await loginWith(t.app, owner.email, {}, STRONG_PASSWORD)).statusCode).toBe(200);
    });

    it('a password change held the same way from a session that stays open is made', async () => {
      const owner = await registerAndLogin(t.app);
      const other = await login(t.app, owner.email);
      const res = await whileWaitingOnAccount(
        owner.id,
        () => changePassword(owner),
        () => expectAccessWorks(t.app, other.accessToken),
      );
      expect(res.statusCode, res.body).toBe(204);
      expect((await loginWith(t.app, owner.email, {}, INTRUDER_PASSWORD)).statusCode).toBe(200);
    });

    it('an address change confirmed (POST /auth/email/change/confirm) is refused: the address stays, the link is spent', async () => {
      const owner = await registerAndLogin(t.app);
      const intruder = await login(t.app, owner.email);
      const token = await changeLink(intruder, uniqueEmail('intruder'));
      const confirm = (session: LoggedIn) =>
        post('/email/change/confirm', { token }, session.accessToken);
      const res = await whileWaitingOnAccount(
        owner.id,
        () => confirm(intruder),
        () => endFromList(t, owner, intruder),
      );
      expectProblem(res, 401, 'invalid_token');
      expect(endedFailures(events, 'email.changed')).toContainEqual(
        expect.objectContaining({ actorId: owner.id }),
      );
      await expectAccessWorks(t.app, owner.accessToken);
      expect((await getMe(t.app, owner.accessToken)).json()).toMatchObject({
        email: owner.email,
      });
      // Spent as before: the owner's own session cannot use it either.
      expectProblem(await confirm(owner), 400, 'invalid_email_change_token');
    });

    it('an address change held the same way from a session that stays open is made', async () => {
      const owner = await registerAndLogin(t.app);
      const other = await login(t.app, owner.email);
      const newEmail = uniqueEmail('moved');
      const token = await changeLink(owner, newEmail);
      const res = await whileWaitingOnAccount(
        owner.id,
        () => post('/email/change/confirm', { token }, owner.accessToken),
        () => expectAccessWorks(t.app, other.accessToken),
      );
      expect(res.statusCode, res.body).toBe(204);
      expect((await getMe(t.app, owner.accessToken)).json()).toMatchObject({ email: newEmail });
    });
  },
);
