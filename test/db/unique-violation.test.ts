import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isUniqueViolation,
  RefreshTokensRepository,
  SessionsRepository,
  UsersRepository,
} from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { refreshTokenRow, sessionRow, userRow } from './rows.js';

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the query to fail');
    },
    (error: unknown) => error,
  );
}

describe(`isUniqueViolation on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let users: UsersRepository;
  beforeAll(async () => {
    t = await createMigratedTestDb();
    users = new UsersRepository(t.db.kysely, t.db.dialect);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('detects a duplicate email (unique index)', async () => {
    const first = await users.insert(userRow());
    const error = await failure(users.insert(userRow({ email: first.email })));
    expect(isUniqueViolation(error)).toBe(true);
  });

  it('detects a duplicate primary key', async () => {
    const first = await users.insert(userRow());
    const error = await failure(users.insert(userRow({ id: first.id })));
    expect(isUniqueViolation(error)).toBe(true);
  });

  it('detects a duplicate refresh token hash', async () => {
    const user = await users.insert(userRow());
    const session = await new SessionsRepository(t.db.kysely).create(sessionRow(user.id));
    const tokens = new RefreshTokensRepository(t.db.kysely);
    const first = await tokens.insert(refreshTokenRow(session.id));
    const error = await failure(
      tokens.insert(refreshTokenRow(session.id, { token_hash: first.token_hash })),
    );
    expect(isUniqueViolation(error)).toBe(true);
  });

  it('finds the violation through a cause chain', async () => {
    const first = await users.insert(userRow());
    const error = await failure(users.insert(userRow({ email: first.email })));
    expect(isUniqueViolation(new Error('wrapped', { cause: error }))).toBe(true);
  });

  it('is false for other constraint failures', async () => {
    const fk = await failure(
      new SessionsRepository(t.db.kysely).create(sessionRow('no-such-user')),
    );
    expect(isUniqueViolation(fk)).toBe(false);
    const notNull = await failure(users.insert(userRow({ email: null as unknown as string })));
    expect(isUniqueViolation(notNull)).toBe(false);
  });

  it('is false for anything that is not a database error', () => {
    const values: unknown[] = [
      undefined,
      null,
      '23505',
      23505,
      new Error('duplicate key value violates unique constraint'),
      { code: 23505 },
      { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' },
      { code: 'SQLITE_CONSTRAINT' },
    ];
    values.forEach((value, i) => expect(isUniqueViolation(value), `case ${i}`).toBe(false));
    const cyclic: { code: string; cause?: unknown } = { code: 'x' };
    cyclic.cause = cyclic;
    expect(isUniqueViolation(cyclic)).toBe(false);
  });
});
