import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FieldCipher, Keyring } from '../../src/crypto/index.js';
import { ENCRYPTED_COLUMNS, fieldContext, reencryptAll } from '../../src/db/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';
import { bearer, createUserAndLogin, type LoggedIn } from '../helpers/identity.js';
import { userRow } from '../db/rows.js';

/*
 * Re-encryption while the service runs: users keep editing their phone numbers through the API
 * during `reencryptAll`, and no edit may be overwritten by the re-encrypted copy of the value
 * it replaced (the compare-and-set in EncryptedColumnsRepository). On PostgreSQL edits land
 * between a batch's read and its write (with the condition removed, this test fails there); on
 * SQLite a batch holds the one connection, so edits fall between batches. The deterministic
 * check of the condition itself is in test/db/encrypted-columns.test.ts.
 */

const PHONE = ENCRYPTED_COLUMNS.usersPhone;
const USERS = 300;
const EDITS = 200;

const v1Key = randomBytes(32).toString('base64');
const v2 = Keyring.fromEnvValue(`1:${v1Key}`).addVersion();

let t: TestApp;
let admin: LoggedIn;
beforeAll(async () => {
  // The service runs with version 1 only (it has not been restarted with the new keyring yet).
  t = await buildTestApp({ keys: { masterKey: `1:${v1Key}` } });
  admin = await createUserAndLogin(t.app, 'admin');
});
afterAll(async () => {
  await t.app.close();
});

describe(`reencrypt during live edits on ${dialectUnderTest}`, () => {
  it('never overwrites a phone number changed while it runs', async () => {
    const cipher = new FieldCipher(t.app.services.keyring, PHONE.purpose);
    const expected = new Map<string, string>();
    const rows = Array.from({ length: USERS }, (_, i) => {
      const row = userRow();
      const phone = `+3312345${String(i).padStart(4, '0')}`;
      row.phone_enc = cipher.encrypt(phone, fieldContext(PHONE, row.id));
      expected.set(row.id, phone);
      return row;
    });
    for (let i = 0; i < rows.length; i += 100) {
      await t.testDb.db.kysely
        .insertInto('users')
        .values(rows.slice(i, i + 100))
        .execute();
    }
    const ids = [...expected.keys()];

    const edits = (async () => {
      for (let i = 0; i < EDITS; i += 1) {
        const id = ids[randomInt(ids.length)]!;
        const phone = `+4930${String(1_000_000 + i * 7)}`;
        const res = await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/users/${id}`,
          headers: bearer(admin.accessToken),
          payload: { phone },
        });
        expect(res.statusCode, res.body).toBe(200);
        expected.set(id, phone);
      }
    })();
    // On the service's own database handle, as an embedded deployment would share the file.
    const run = reencryptAll(t.app.services.db.kysely, v2, { batchSize: 3 });
    const [report] = await Promise.all([run, edits]);

    const phones = report.columns.find((c) => c.column === 'users.phone')!;
    expect(phones.unreadable).toBe(0);
    expect(phones.examined).toBe(USERS);
    // Every value reads back as the last one written, under whichever version wrote it.
    const reader = new FieldCipher(v2, PHONE.purpose);
    const stored = await t.testDb.db.kysely
      .selectFrom('users')
      .select(['id', 'phone_enc'])
      .where('phone_enc', 'is not', null)
      .execute();
    expect(stored).toHaveLength(USERS);
    for (const row of stored) {
      expect(reader.decrypt(row.phone_enc!, fieldContext(PHONE, row.id))).toBe(
        expected.get(row.id),
      );
    }
    // A second run moves what the service wrote under version 1 meanwhile; then all are on 2.
    await reencryptAll(t.app.services.db.kysely, v2, { batchSize: 50 });
    const after = await t.testDb.db.kysely
      .selectFrom('users')
      .select(['id', 'phone_enc'])
      .where('phone_enc', 'is not', null)
      .execute();
    for (const row of after) {
      expect(reader.keyVersionOf(row.phone_enc!)).toBe(2);
      expect(reader.decrypt(row.phone_enc!, fieldContext(PHONE, row.id))).toBe(
        expected.get(row.id),
      );
    }
  });
});
