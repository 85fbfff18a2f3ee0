import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/index.js';
import { EmailTokensRepository, UsersRepository } from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { T0, userRow } from './rows.js';

describe(`EmailTokensRepository on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let tokens: EmailTokensRepository;
  let users: UsersRepository;

  beforeAll(async () => {
    t = await createMigratedTestDb();
    tokens = new EmailTokensRepository(t.db.kysely);
    users = new UsersRepository(t.db.kysely, t.db.dialect);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  function issue(userId: string, email: string, i: number): Promise<void> {
    return tokens.issue({
      userId,
      purpose: 'password_reset',
      tokenHash: sha256Hex(`${userId}-${i}`),
      email,
      now: T0,
      expiresAt: T0 + 1_800_000,
    });
  }

  it('keeps one live token per account and purpose when links are asked for concurrently', async () => {
    const user = await users.insert(userRow());
    await Promise.all(Array.from({ length: 8 }, (_, i) => issue(user.id, user.email, i)));
    const live = await t.db.kysely
      .selectFrom('email_tokens')
      .select('token_hash')
      .where('user_id', '=', user.id)
      .where('purpose', '=', 'password_reset')
      .execute();
    expect(live).toHaveLength(1);
  });
});
