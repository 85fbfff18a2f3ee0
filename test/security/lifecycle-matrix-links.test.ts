/*
 * Account lifecycle × e-mailed links: the cells of the lifecycle matrix (findings-lifecycle.md)
 * that the feature tests leave open. An administrator's decision to disable an account ends
 * every link it was mailed, for good (docs/security.md, "What a reset does"): enabling it again
 * must bring none back, including a link whose request was being served while the account was
 * disabled. A password change ends pending address changes, including one asked for while it
 * was being made; and a confirmation from a session that ends meanwhile moves nothing. The app
 * sends through a real SMTP server on loopback; the tests follow the links.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmailTokensRepository } from '../../src/db/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  login,
  registerAndLogin,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { holdNextPasswordCheck } from '../helpers/hold-password-check.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { captureEvents, expectProblem, getMe, setDisabled } from '../auth/support.js';

const RESET_PAGE = 'https://app.example.com/reset-password';
const VERIFY_PAGE = 'https://app.example.com/verify-email';
const CHANGE_PAGE = 'https://app.example.com/change-email';
const NEW_PASSWORD = 'velvet orbit lantern mosaic 93';
const LINK = /^https:\/\/app\.example\.com\/[a-z-]+#token=([A-Za-z0-9_-]{43})$/m;

let smtp: TestSmtpServer;
let t: TestApp;
let admin: LoggedIn;

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await buildTestApp({
    email: {
      smtpUrl: smtp.url(),
      from: 'Example <no-reply@example.com>',
      passwordResetUrl: RESET_PAGE,
      verifyEmailUrl: VERIFY_PAGE,
      changeEmailUrl: CHANGE_PAGE,
      timeoutMs: 2_000,
    },
  });
  admin = await createUserAndLogin(t.app, 'admin');
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await t.app.close();
  await smtp.stop();
});

/** The tokens of every e-mail to `address` whose subject matches, once the mailer is idle. */
async function linksTo(address: string, subject: RegExp): Promise<string[]> {
  await t.app.services.accountEmail!.idle();
  return smtp.received
    .filter((m) => m.to.includes(address) && subject.test(m.header('subject') ?? ''))
    .map((m) => LINK.exec(m.text)?.[1])
    .filter((token): token is string => token !== undefined);
}

/**
 * Makes the next link the app issues for `user` wait for an administrator to disable the
 * account: the request read the account while it was enabled, and its token is stored after the
 * administrator ended every link of the account. The spy only orders two real requests.
 */
function disableBeforeNextLink(user: LoggedIn): void {
  // The same table through a repository of its own: the spy replaces the app's method.
  const tokens = new EmailTokensRepository(t.app.services.db.kysely);
  vi.spyOn(EmailTokensRepository.prototype, 'issue').mockImplementationOnce(async (input) => {
    await setDisabled(t.app, admin.accessToken, user.id, true);
    return tokens.issue(input);
  });
}

function post(
  url: string,
  payload: Record<string, unknown> | undefined,
  accessToken?: string,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: `/api/v1/auth${url}`,
    headers: accessToken === undefined ? {} : bearer(accessToken),
    ...(payload === undefined ? {} : { payload }),
  });
}

describe('a link whose request raced the account being disabled', () => {
  it('password reset: the link does not work once the account is enabled again', async () => {
    const user = await registerAndLogin(t.app);
    const events = captureEvents(t.app);
    disableBeforeNextLink(user);
    expect((await post('/password/forgot', { email: user.email })).statusCode).toBe(202);
    const sent = await linksTo(user.email, /Reset your/);
    await setDisabled(t.app, admin.accessToken, user.id, false);

    for (const token of sent) {
      expectProblem(
        await post('/password/reset', { token, newPassword: NEW_PASSWORD }),
        400,
        'invalid_reset_token',
      );
    }
    // The password is the one the owner had, and the request is on record as refused.
    expect((await login(t.app, user.email)).id).toBe(user.id);
    expect(
      events
        .filter((e) => e.type === 'password.reset_requested')
        .map((e) => [e.outcome, e.details?.reason]),
    ).toEqual([['failure', 'account_changed']]);
    expect(sent).toEqual([]);
  });

  it('an administrator sends a reset link: 409 conflict, as for an account already disabled', async () => {
    const user = await registerAndLogin(t.app);
    disableBeforeNextLink(user);
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/users/${user.id}/password-reset`,
      headers: bearer(admin.accessToken),
    });
    expectProblem(res, 409, 'conflict');
    await setDisabled(t.app, admin.accessToken, user.id, false);
    expect(await linksTo(user.email, /Reset your/)).toEqual([]);
  });

  it('address verification: the link does not verify once the account is enabled again', async () => {
    const user = await registerAndLogin(t.app);
    // The sign-up's own link is not the one under test.
    const before = await linksTo(user.email, /Verify your/);
    disableBeforeNextLink(user);
    const res = await post('/email/verification', undefined, user.accessToken);
    // Disabled while the request was served: the account's session ended with it.
    expect([202, 401, 403, 409]).toContain(res.statusCode);
    await setDisabled(t.app, admin.accessToken, user.id, false);
    const again = await login(t.app, user.email);
    const sent = (await linksTo(user.email, /Verify your/)).filter((x) => !before.includes(x));
    for (const token of sent) {
      expectProblem(
        await post('/email/verify', { token }, again.accessToken),
        400,
        'invalid_verification_token',
      );
    }
    expect((await getMe(t.app, again.accessToken)).json()).toMatchObject({ emailVerified: false });
  });

  it('address change: the link does not move the account once it is enabled again', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('moved');
    disableBeforeNextLink(user);
    const res = await post(
      '/email/change',
      { newEmail, password: user.password },
      user.accessToken,
    );
    expect(res.statusCode, res.body).toBe(202);
    const sent = await linksTo(newEmail, /Confirm your new e-mail address/);
    await setDisabled(t.app, admin.accessToken, user.id, false);
    const again = await login(t.app, user.email);
    for (const token of sent) {
      expectProblem(
        await post('/email/change/confirm', { token }, again.accessToken),
        400,
        'invalid_email_change_token',
      );
    }
    expect((await getMe(t.app, again.accessToken)).json()).toMatchObject({ email: user.email });
    expect(sent).toEqual([]);
  });
});

describe('what must keep working after an address change', () => {
  it('a reset link is asked for and used at the new address; the old address gets none', async () => {
    const user = await registerAndLogin(t.app);
    const newEmail = uniqueEmail('moved');
    const asked = await post(
      '/email/change',
      { newEmail, password: user.password },
      user.accessToken,
    );
    expect(asked.statusCode, asked.body).toBe(202);
    const [change] = await linksTo(newEmail, /Confirm your new e-mail address/);
    const confirmed = await post('/email/change/confirm', { token: change! }, user.accessToken);
    expect(confirmed.statusCode, confirmed.body).toBe(204);

    expect((await post('/password/forgot', { email: user.email })).statusCode).toBe(202);
    expect(await linksTo(user.email, /Reset your/)).toEqual([]);
    expect((await post('/password/forgot', { email: newEmail })).statusCode).toBe(202);
    const [token] = await linksTo(newEmail, /Reset your/);
    const reset = await post('/password/reset', { token: token!, newPassword: NEW_PASSWORD });
    expect(reset.statusCode, reset.body).toBe(204);
    expect((await login(t.app, newEmail, NEW_PASSWORD)).id).toBe(user.id);
  });
});

describe('an address change confirmed from a session that ends meanwhile', () => {
  it('is refused: the owner ending the session wins, and the owner keeps the address and the session', async () => {
    const owner = await registerAndLogin(t.app);
    const intruder = await login(t.app, owner.email);
    const newEmail = uniqueEmail('intruder');
    const asked = await post(
      '/email/change',
      { newEmail, password: owner.password },
      intruder.accessToken,
    );
    expect(asked.statusCode, asked.body).toBe(202);
    const [token] = await linksTo(newEmail, /Confirm your new e-mail address/);
    // The owner ends the intruder's session from the list while the confirmation is in flight.
    const tokens = new EmailTokensRepository(t.app.services.db.kysely);
    vi.spyOn(EmailTokensRepository.prototype, 'applyEmailChange').mockImplementationOnce(
      async (input) => {
        const end = await t.app.inject({
          method: 'DELETE',
          url: `/api/v1/auth/sessions/${intruder.sessionId}`,
          headers: bearer(owner.accessToken),
        });
        expect(end.statusCode, end.body).toBe(204);
        return tokens.applyEmailChange(input);
      },
    );
    const res = await post('/email/change/confirm', { token: token! }, intruder.accessToken);
    expectProblem(res, 401, 'invalid_token');
    expect((await getMe(t.app, owner.accessToken)).json()).toMatchObject({ email: owner.email });
  });
});

describe('an address change asked for while the password is being changed', () => {
  it('leaves no live link once the password change is stored (a change ends pending ones)', async () => {
    const owner = await registerAndLogin(t.app);
    const intruder = await login(t.app, owner.email);
    const newEmail = uniqueEmail('intruder');
    // The intruder's request checks the (old) password; the owner changes it meanwhile.
    const held = holdNextPasswordCheck(t.app);
    let asked: Promise<LightMyRequestResponse>;
    try {
      asked = post('/email/change', { newEmail, password: owner.password }, intruder.accessToken);
      await held.checking;
      const changed = await post(
        '/password',
        { currentPassword: owner.password, newPassword: NEW_PASSWORD },
        owner.accessToken,
      );
      expect(changed.statusCode, changed.body).toBe(204);
    } finally {
      held.release();
    }
    expect((await asked).statusCode).toBeLessThan(500);
    expect(await linksTo(newEmail, /Confirm your new e-mail address/)).toEqual([]);
    const live = await t.app.services.db.kysely
      .selectFrom('email_tokens')
      .select('id')
      .where('user_id', '=', owner.id)
      .where('purpose', '=', 'email_change')
      .execute();
    expect(live).toEqual([]);
  });
});
