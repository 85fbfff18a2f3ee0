import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  type LoggedIn,
} from '../helpers/identity.js';
import { withoutRandomDigits } from '../helpers/leaks.js';
import { expectNoRowLeak, expectProblem, expectUser } from '../helpers/users.js';

/*
 * SPEC checklist line 9: phone numbers are encrypted per field with AES-256-GCM, the envelope is
 * bound (AAD) to users/phone/<row id>. These tests read and write the table directly, as an
 * attacker with database access would.
 */

let t: TestApp;
let admin: LoggedIn;
beforeAll(async () => {
  t = await buildTestApp();
  admin = await createUserAndLogin(t.app, 'admin');
});
afterAll(async () => {
  await t.app.close();
});

async function setPhone(caller: LoggedIn, phone: string | null) {
  const res = await t.app.inject({
    method: 'PATCH',
    url: '/api/v1/users/me',
    headers: bearer(caller.accessToken),
    payload: { phone },
  });
  expect(res.statusCode, res.body).toBe(200);
  return expectUser(res.json());
}

async function storedPhone(id: string): Promise<string | null> {
  const row = await t.testDb.db.kysely
    .selectFrom('users')
    .select('phone_enc')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.phone_enc;
}

async function writePhone(id: string, value: string | null): Promise<void> {
  await t.testDb.db.kysely
    .updateTable('users')
    .set({ phone_enc: value })
    .where('id', '=', id)
    .execute();
}

describe(`phone numbers at rest on ${dialectUnderTest}`, () => {
  it('stores a bwf1 envelope that contains no digits of the number', async () => {
    const user = await registerAndLogin(t.app);
    await setPhone(user, '+44 1632 960-961');
    const stored = await storedPhone(user.id);
    expect(stored).toMatch(
      /^bwf1\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
    );
    for (const plain of ['441632960961', '1632960961', '960961', '1632']) {
      expect(stored).not.toContain(plain);
      expect(Buffer.from(stored!, 'utf8').toString('base64')).not.toContain(
        Buffer.from(plain).toString('base64'),
      );
    }
    // The plain number is still what the API answers.
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(user.accessToken),
    });
    expect(expectUser(res.json()).phone).toBe('+441632960961');
    expectNoRowLeak(res.body);
  });

  it('uses a fresh IV per write: the same number never gives the same envelope', async () => {
    const user = await registerAndLogin(t.app);
    await setPhone(user, '+441632960961');
    const first = await storedPhone(user.id);
    await setPhone(user, '+441632960961');
    const second = await storedPhone(user.id);
    expect(first).not.toBe(second);
  });

  it('stores null when the number is cleared', async () => {
    const user = await registerAndLogin(t.app);
    await setPhone(user, '+441632960961');
    await setPhone(user, null);
    expect(await storedPhone(user.id)).toBeNull();
  });

  describe('an envelope moved to another row', () => {
    let victim: LoggedIn;
    let other: LoggedIn;
    beforeAll(async () => {
      victim = await registerAndLogin(t.app);
      other = await registerAndLogin(t.app);
      await setPhone(victim, '+441632960999');
      // Copy the victim's ciphertext into the other user's row: a valid envelope, wrong row.
      await writePhone(other.id, await storedPhone(victim.id));
    });

    it('does not decrypt as the other user: 500 internal_error that leaks nothing', async () => {
      for (const [url, token] of [
        ['/api/v1/users/me', other.accessToken],
        [`/api/v1/users/${other.id}`, other.accessToken],
        [`/api/v1/users/${other.id}`, admin.accessToken],
      ] as const) {
        const res = await t.app.inject({ method: 'GET', url, headers: bearer(token) });
        const body = expectProblem(res, 500, 'internal_error');
        for (const leak of ['960999', '+44', 'ecrypt', 'authentication', 'bwf1', 'GCM', 'AAD'])
          expect(withoutRandomDigits(res.body)).not.toContain(leak);
        expectNoRowLeak(res.body);
        // The operator sees the cause in the log, tied to the request id.
        const line = t.logs.lines.find(
          (l) => l.requestId === body.requestId && l.level === 'error',
        );
        expect(JSON.stringify(line)).toMatch(/DecryptionError|authentication failed/);
        // Not in its ids, whose hex digits can hold these by chance (see the helper).
        expect(withoutRandomDigits(JSON.stringify(line))).not.toContain('960999');
      }
    });

    type UserPage = { items: { id: string; phone: string | null }[]; nextCursor: string | null };

    it('lists that user with phone null and logs it, without failing the page for everyone else', async () => {
      const seen = new Map<string, { phone: string | null }>();
      let cursor: string | null = null;
      for (let page = 0; page < 50; page += 1) {
        const res: LightMyRequestResponse = await t.app.inject({
          method: 'GET',
          url: `/api/v1/users?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`,
          headers: bearer(admin.accessToken),
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<UserPage>();
        for (const item of body.items) seen.set(item.id, item);
        cursor = body.nextCursor;
        if (cursor === null) break;
      }
      expect(seen.get(other.id)?.phone).toBeNull();
      expect(seen.get(victim.id)?.phone).toBe('+441632960999');
      const line = t.logs.lines.find(
        (l) => l.userId === other.id && String(l.msg).startsWith('a stored phone number cannot'),
      );
      expect(line).toMatchObject({ level: 'error' });
      expect(withoutRandomDigits(JSON.stringify(line))).not.toContain('960999');
    });

    it('still decrypts for the row it was written for', async () => {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users/me',
        headers: bearer(victim.accessToken),
      });
      expect(expectUser(res.json()).phone).toBe('+441632960999');
    });

    it('is repaired by writing a new value (the bad envelope is never read back)', async () => {
      const user = await setPhone(other, '+12025550143');
      expect(user.phone).toBe('+12025550143');
      expect(await storedPhone(other.id)).not.toBe(await storedPhone(victim.id));
    });
  });

  it('refuses an envelope altered by one character', async () => {
    const user = await registerAndLogin(t.app);
    await setPhone(user, '+441632960961');
    const stored = (await storedPhone(user.id))!;
    const parts = stored.split('.');
    const ciphertext = parts[4]!;
    // Flip the first character: it carries six whole bits, so the bytes really change.
    parts[4] = (ciphertext[0] === 'A' ? 'B' : 'A') + ciphertext.slice(1);
    await writePhone(user.id, parts.join('.'));
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(user.accessToken),
    });
    expectProblem(res, 500, 'internal_error');
    expect(res.body).not.toContain('960961');
  });
});
