import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher, Keyring } from '../../src/crypto/index.js';
import {
  ENCRYPTED_COLUMNS,
  EncryptedColumnsRepository,
  encryptedColumns,
  fieldContext,
  reencryptAll,
  type ReencryptProgress,
} from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { signingKeyRow, userRow } from './rows.js';

const PHONE = ENCRYPTED_COLUMNS.usersPhone;

describe('the registry of encrypted columns', () => {
  it('lists each column once, with the AAD names stored data is bound to', () => {
    // These names are inside every stored envelope: changing one makes its data unreadable.
    expect(
      encryptedColumns().map((c) => [c.name, c.table, c.idColumn, c.column, c.purpose, c.aad]),
    ).toEqual([
      [
        'users.phone',
        'users',
        'id',
        'phone_enc',
        'field-encryption',
        { table: 'users', column: 'phone' },
      ],
      [
        'signing_keys.private_key',
        'signing_keys',
        'id',
        'private_key_enc',
        'signing-key-wrap',
        { table: 'signing_keys', column: 'private_key' },
      ],
      [
        'totp_factors.secret',
        'totp_factors',
        'user_id',
        'secret_enc',
        'field-encryption',
        { table: 'totp_factors', column: 'secret' },
      ],
    ]);
    expect(Object.isFrozen(ENCRYPTED_COLUMNS)).toBe(true);
  });
});

describe(`EncryptedColumnsRepository and reencryptAll on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let repo: EncryptedColumnsRepository;
  const v1 = new Keyring(new Map([[1, randomBytes(32)]]), 1);
  const v2 = v1.addVersion();

  beforeEach(async () => {
    t = await createMigratedTestDb();
    repo = new EncryptedColumnsRepository(t.db.kysely);
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  /** `count` users with phones under `keyring`, and one without; ids sorted. */
  async function seed(keyring: Keyring, count: number): Promise<Map<string, string>> {
    const cipher = new FieldCipher(keyring, PHONE.purpose);
    const phones = new Map<string, string>();
    for (let i = 0; i < count; i += 1) {
      const row = userRow();
      const phone = `+4420794600${String(i).padStart(2, '0')}`;
      row.phone_enc = cipher.encrypt(phone, fieldContext(PHONE, row.id));
      phones.set(row.id, phone);
      await t.db.kysely.insertInto('users').values(row).execute();
    }
    await t.db.kysely.insertInto('users').values(userRow()).execute();
    return new Map([...phones].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  async function phoneOf(id: string): Promise<string | null> {
    const row = await t.db.kysely
      .selectFrom('users')
      .select('phone_enc')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return row.phone_enc;
  }

  it('pages through non-null values in id order, after a given id', async () => {
    const phones = await seed(v1, 5);
    const ids = [...phones.keys()];
    expect(await repo.count(PHONE)).toBe(5);
    const first = await repo.batchAfter(PHONE, null, 2);
    expect(first.map((r) => r.id)).toEqual(ids.slice(0, 2));
    const rest = await repo.batchAfter(PHONE, ids[1]!, 10);
    expect(rest.map((r) => r.id)).toEqual(ids.slice(2));
    expect(await repo.batchAfter(PHONE, ids[4]!, 10)).toEqual([]);
  });

  it('compare-and-set never overwrites a value changed after it was read', async () => {
    const phones = await seed(v1, 2);
    const [a, b] = [...phones.keys()];
    const read = await repo.batchAfter(PHONE, null, 10);
    // Meanwhile the user changes the phone of row b (as the service would).
    const cipher = new FieldCipher(v2, PHONE.purpose);
    const theirs = cipher.encrypt('+12025550100', fieldContext(PHONE, b!));
    await t.db.kysely
      .updateTable('users')
      .set({ phone_enc: theirs })
      .where('id', '=', b!)
      .execute();

    const updated = await repo.compareAndSet(
      PHONE,
      read.map((r) => ({
        id: r.id,
        expected: r.value,
        value: cipher.reencrypt(r.value, fieldContext(PHONE, r.id))!,
      })),
    );
    expect([...updated]).toEqual([a]);
    expect(await phoneOf(b!)).toBe(theirs);
    expect(cipher.decrypt((await phoneOf(a!))!, fieldContext(PHONE, a!))).toBe(phones.get(a!));
    expect(await repo.compareAndSet(PHONE, [])).toEqual(new Set());
  });

  it('re-encrypts every column in batches, reporting progress, then finds nothing left', async () => {
    const phones = await seed(v1, 7);
    const kid = signingKeyRow().id;
    const wrap = new FieldCipher(v1, ENCRYPTED_COLUMNS.signingKeysPrivateKey.purpose);
    await t.db.kysely
      .insertInto('signing_keys')
      .values(
        signingKeyRow({
          id: kid,
          private_key_enc: wrap.encrypt(
            '{"d":"x"}',
            fieldContext(ENCRYPTED_COLUMNS.signingKeysPrivateKey, kid),
          ),
        }),
      )
      .execute();
    // A TOTP secret: its table's id column is user_id.
    const [totpUser] = [...phones.keys()];
    const totp = new FieldCipher(v1, ENCRYPTED_COLUMNS.totpSecret.purpose);
    await t.db.kysely
      .insertInto('totp_factors')
      .values({
        user_id: totpUser!,
        secret_enc: totp.encrypt(
          'JBSWY3DPEHPK3PXP',
          fieldContext(ENCRYPTED_COLUMNS.totpSecret, totpUser!),
        ),
        created_at: 1,
        confirmed_at: 2,
        last_step: null,
      })
      .execute();
    const progress: ReencryptProgress[] = [];
    const report = await reencryptAll(t.db.kysely, v2, {
      batchSize: 3,
      onProgress: (p) => progress.push(p),
    });
    expect(report.aborted).toBe(false);
    expect(report.keyVersion).toBe(2);
    expect(
      report.columns.map((c) => [c.column, c.examined, c.reencrypted, c.alreadyCurrent]),
    ).toEqual([
      ['users.phone', 7, 7, 0],
      ['signing_keys.private_key', 1, 1, 0],
      ['totp_factors.secret', 1, 1, 0],
    ]);
    expect(progress.filter((p) => p.column === 'users.phone').map((p) => p.done)).toEqual([
      0, 3, 6, 7,
    ]);
    const cipher = new FieldCipher(v2, PHONE.purpose);
    for (const [id, phone] of phones) {
      const stored = (await phoneOf(id))!;
      expect(cipher.keyVersionOf(stored)).toBe(2);
      expect(cipher.decrypt(stored, fieldContext(PHONE, id))).toBe(phone);
    }
    const again = await reencryptAll(t.db.kysely, v2, { batchSize: 100 });
    expect(again.columns.map((c) => [c.examined, c.reencrypted, c.alreadyCurrent])).toEqual([
      [7, 0, 7],
      [1, 0, 1],
      [1, 0, 1],
    ]);
    const secret = await t.db.kysely
      .selectFrom('totp_factors')
      .select('secret_enc')
      .executeTakeFirstOrThrow();
    const totpV2 = new FieldCipher(v2, ENCRYPTED_COLUMNS.totpSecret.purpose);
    expect(totpV2.keyVersionOf(secret.secret_enc)).toBe(2);
    expect(
      totpV2.decrypt(secret.secret_enc, fieldContext(ENCRYPTED_COLUMNS.totpSecret, totpUser!)),
    ).toBe('JBSWY3DPEHPK3PXP');
  });

  it('stops between batches when aborted, keeping what was committed', async () => {
    await seed(v1, 6);
    const controller = new AbortController();
    const report = await reencryptAll(t.db.kysely, v2, {
      batchSize: 2,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 2) controller.abort();
      },
    });
    expect(report.aborted).toBe(true);
    expect(report.columns.map((c) => [c.column, c.examined, c.reencrypted])).toEqual([
      ['users.phone', 2, 2],
    ]);
    const cipher = new FieldCipher(v2, PHONE.purpose);
    const versions = (await repo.batchAfter(PHONE, null, 100)).map((r) =>
      cipher.keyVersionOf(r.value),
    );
    expect(versions.filter((v) => v === 2)).toHaveLength(2);
    expect(versions.filter((v) => v === 1)).toHaveLength(4);
  });

  it('refuses a batch size that is not a positive integer', async () => {
    for (const batchSize of [0, -1, 1.5, Number.NaN]) {
      await expect(reencryptAll(t.db.kysely, v2, { batchSize })).rejects.toThrow(RangeError);
    }
  });
});
