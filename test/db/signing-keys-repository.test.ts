import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SigningKeysRepository } from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { signingKeyRow, T0 } from './rows.js';

const DAY = 86_400_000;

describe(`SigningKeysRepository on ${dialectUnderTest}`, () => {
  // A fresh database per test: current() and all() look at the whole table.
  let t: TestDb;
  let keys: SigningKeysRepository;
  beforeEach(async () => {
    t = await createMigratedTestDb();
    keys = new SigningKeysRepository(t.db.kysely);
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  it('has no current key when empty', async () => {
    expect(await keys.current()).toBeUndefined();
    expect(await keys.all()).toEqual([]);
    expect(await keys.listVerifiable(T0)).toEqual([]);
  });

  it('inserts, and the newest unretired key is current', async () => {
    const first = await keys.insert(signingKeyRow({ created_at: T0 }));
    expect(first.created_at).toBe(T0);
    expect(await keys.current()).toEqual(first);
    const second = await keys.insert(signingKeyRow({ created_at: T0 + DAY }));
    expect(await keys.current()).toEqual(second);
    expect(await keys.all()).toEqual([second, first]);
  });

  it('rotates: a retired key stops signing but verifies until it expires', async () => {
    const old = await keys.insert(signingKeyRow({ created_at: T0 }));
    const next = await keys.insert(signingKeyRow({ created_at: T0 + DAY }));
    expect(await keys.retire(old.id, T0 + DAY, T0 + 2 * DAY)).toBe(true);

    const retired = { ...old, retired_at: T0 + DAY, expires_at: T0 + 2 * DAY };
    expect(await keys.current()).toEqual(next);
    expect(await keys.listVerifiable(T0 + DAY)).toEqual([next, retired]);
    expect(await keys.listVerifiable(T0 + 2 * DAY - 1)).toEqual([next, retired]);
    expect(await keys.listVerifiable(T0 + 2 * DAY)).toEqual([next]);
    expect(await keys.all()).toEqual([next, retired]);
  });

  it('retires once: a second retirement does not move the expiry', async () => {
    const key = await keys.insert(signingKeyRow());
    expect(await keys.retire(key.id, T0 + 1, T0 + DAY)).toBe(true);
    expect(await keys.retire(key.id, T0 + 2, T0 + 30 * DAY)).toBe(false);
    expect(await keys.all()).toEqual([{ ...key, retired_at: T0 + 1, expires_at: T0 + DAY }]);
    expect(await keys.retire('no-such-kid', T0, T0)).toBe(false);
  });

  it('has no current key once every key is retired', async () => {
    const key = await keys.insert(signingKeyRow());
    await keys.retire(key.id, T0 + 1, T0 + DAY);
    expect(await keys.current()).toBeUndefined();
  });
});
