import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parameter, prepareRead, UsersRepository, type UserRow } from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { userRow } from './rows.js';

describe(`prepareRead on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let users: UsersRepository;
  beforeAll(async () => {
    t = await createMigratedTestDb();
    users = new UsersRepository(t.db.kysely, t.db.dialect);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('returns what the same query built per call returns, constants and parameters bound', async () => {
    const a = await users.insert(userRow({ role: 'auditor' }));
    const b = await users.insert(userRow({ role: 'auditor', disabled: 1 }));
    const kysely = t.db.kysely;
    const read = prepareRead<[role: string, id: string], UserRow>(
      kysely,
      kysely
        .selectFrom('users')
        .selectAll()
        .where('role', '=', parameter<string>(0))
        .where('disabled', '=', 0)
        .where('id', '!=', parameter<string>(1))
        .orderBy('id'),
    );
    const built = await kysely
      .selectFrom('users')
      .selectAll()
      .where('role', '=', 'auditor')
      .where('disabled', '=', 0)
      .where('id', '!=', b.id)
      .orderBy('id')
      .execute();
    expect(await read.all('auditor', b.id)).toEqual(built);
    expect(await read.all('auditor', b.id)).toEqual([a]);
    expect(await read.first('auditor', a.id)).toBeUndefined();
    expect(await read.all("auditor' OR '1'='1", '')).toEqual([]);
  });

  it('refuses anything but a SELECT, and a run without its arguments', async () => {
    const kysely = t.db.kysely;
    expect(() =>
      prepareRead(kysely, kysely.deleteFrom('users').where('id', '=', parameter<string>(0))),
    ).toThrow(TypeError);
    const read = prepareRead<[string], UserRow>(
      kysely,
      kysely.selectFrom('users').selectAll().where('id', '=', parameter<string>(0)),
    );
    await expect((read.first as () => Promise<unknown>)()).rejects.toThrow(RangeError);
  });

  it("never reads another caller's open transaction: it waits, and sees only what commits", async () => {
    const row = await users.insert(userRow({ name: 'Before' }));
    let during: Promise<UserRow | undefined> | undefined;
    const outcome = t.db.kysely
      .transaction()
      .execute(async (trx) => {
        await trx
          .updateTable('users')
          .set({ name: 'Uncommitted' })
          .where('id', '=', row.id)
          .execute();
        during = users.findById(row.id);
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('roll back');
      })
      .catch((error: Error) => error.message);
    expect(await outcome).toBe('roll back');
    expect((await during)?.name).toBe('Before');
    expect((await users.findById(row.id))?.name).toBe('Before');
  });

  it("reads the transaction's own writes through the transaction", async () => {
    const row = await users.insert(userRow({ name: 'Before' }));
    const inside = await t.db.kysely.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ name: 'Inside' }).where('id', '=', row.id).execute();
      return new UsersRepository(trx, t.db.dialect).findById(row.id);
    });
    expect(inside?.name).toBe('Inside');
    expect((await users.findById(row.id))?.name).toBe('Inside');
  });
});
