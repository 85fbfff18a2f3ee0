import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersRepository, type UserRow } from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { T0, userRow } from './rows.js';

describe(`UsersRepository on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let users: UsersRepository;
  beforeAll(async () => {
    t = await createMigratedTestDb();
    users = new UsersRepository(t.db.kysely, t.db.dialect);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('inserts and returns the stored row, times as numbers', async () => {
    const row = userRow({ phone_enc: 'v1.enc.xyz', email_verified: 1 });
    const stored = await users.insert(row);
    expect(stored).toEqual(row);
    expect(typeof stored.created_at).toBe('number');
    expect(await users.findById(row.id)).toEqual(row);
    const found = await users.findById(row.id);
    expect(typeof found?.created_at).toBe('number');
    expect(typeof found?.email_verified).toBe('number');
  });

  it('finds by email, exactly', async () => {
    const row = await users.insert(userRow());
    expect(await users.findByEmail(row.email)).toEqual(row);
    expect(await users.findByEmail(row.email.toUpperCase())).toBeUndefined();
    expect(await users.findByEmail(`${row.email} `)).toBeUndefined();
    expect(await users.findById(randomUUID())).toBeUndefined();
  });

  it('treats hostile input as data', async () => {
    const row = await users.insert(userRow({ name: "Robert'); DROP TABLE users;--" }));
    expect(await users.findByEmail("' OR '1'='1")).toBeUndefined();
    expect(await users.findById(`${row.id}' OR '1'='1`)).toBeUndefined();
    expect((await users.findById(row.id))?.name).toBe("Robert'); DROP TABLE users;--");
  });

  it('finds no user by an email with a NUL, which PostgreSQL text cannot hold', async () => {
    const row = await users.insert(userRow());
    const withNul = `${row.email}\u0000`;
    expect(await users.findByEmail(withNul)).toBeUndefined();
    expect(await users.list({ limit: 10, email: withNul })).toEqual([]);
    expect(await users.list({ limit: 10, email: row.email })).toEqual([row]);
  });

  it('updates and returns the updated row', async () => {
    const row = await users.insert(userRow());
    const updated = await users.update(row.id, {
      name: 'Grace Hopper',
      role: 'admin',
      disabled: 1,
      updated_at: T0 + 5,
    });
    expect(updated).toEqual({
      ...row,
      name: 'Grace Hopper',
      role: 'admin',
      disabled: 1,
      updated_at: T0 + 5,
    });
    expect(await users.findById(row.id)).toEqual(updated);
  });

  it('leaves undefined fields alone and treats an empty patch as a read', async () => {
    const row = await users.insert(userRow({ phone_enc: 'v1.enc.p' }));
    expect(await users.update(row.id, { name: 'N', phone_enc: undefined })).toEqual({
      ...row,
      name: 'N',
    });
    expect(await users.update(row.id, {})).toEqual({ ...row, name: 'N' });
    expect(await users.update(row.id, { phone_enc: null })).toEqual({
      ...row,
      name: 'N',
      phone_enc: null,
    });
  });

  it('returns undefined when updating an unknown user', async () => {
    expect(await users.update(randomUUID(), { name: 'x' })).toBeUndefined();
    expect(await users.update(randomUUID(), {})).toBeUndefined();
  });

  it('deletes, reporting whether the user existed', async () => {
    const row = await users.insert(userRow());
    expect(await users.delete(row.id)).toBe(true);
    expect(await users.findById(row.id)).toBeUndefined();
    expect(await users.delete(row.id)).toBe(false);
  });

  it('counts by role', async () => {
    const role = `auditor-${randomUUID()}`;
    expect(await users.countByRole(role)).toBe(0);
    await users.insert(userRow({ role }));
    await users.insert(userRow({ role }));
    const count = await users.countByRole(role);
    expect(count).toBe(2);
    expect(typeof count).toBe('number');
  });

  describe('list (keyset pagination)', () => {
    const role = `pager-${randomUUID()}`;
    let expected: UserRow[];

    beforeAll(async () => {
      // Several users share a created_at so the id tie-breaker matters.
      const times = [T0 + 3, T0 + 1, T0 + 2, T0 + 2, T0 + 2, T0 + 1, T0 + 4];
      const rows = times.map((created_at) => userRow({ role, created_at, updated_at: created_at }));
      for (const row of rows) await users.insert(row);
      await users.insert(userRow({ role: `${role}-other`, created_at: T0 + 2 }));
      expected = [...rows].sort((a, b) =>
        a.created_at !== b.created_at
          ? a.created_at - b.created_at
          : a.id < b.id
            ? -1
            : a.id > b.id
              ? 1
              : 0,
      );
    });

    it('walks every page in (created_at, id) order without gaps or repeats', async () => {
      const seen: UserRow[] = [];
      let after: { createdAt: number; id: string } | undefined;
      for (let page = 0; page < 10; page++) {
        const items = await users.list({ limit: 2, role, after });
        seen.push(...items);
        const last = items.at(-1);
        if (items.length < 2 || last === undefined) break;
        after = { createdAt: last.created_at, id: last.id };
      }
      expect(seen).toEqual(expected);
    });

    it('starts strictly after the cursor', async () => {
      const third = expected[2]!;
      const items = await users.list({
        limit: 100,
        role,
        after: { createdAt: third.created_at, id: third.id },
      });
      expect(items).toEqual(expected.slice(3));
    });

    it('filters by role and by exact email', async () => {
      const target = expected[4]!;
      expect(await users.list({ limit: 100, role, email: target.email })).toEqual([target]);
      expect(await users.list({ limit: 100, email: target.email })).toEqual([target]);
      expect(await users.list({ limit: 100, email: target.email.toUpperCase() })).toEqual([]);
      expect(await users.list({ limit: 100, role: 'nobody', email: target.email })).toEqual([]);
    });

    it('rejects a limit outside 1..1000', async () => {
      for (const limit of [0, -1, 1.5, 1_001, Number.NaN]) {
        await expect(users.list({ limit }), String(limit)).rejects.toThrow(RangeError);
      }
    });
  });
});
