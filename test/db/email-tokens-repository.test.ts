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

  function issue(userId: string, email: string, i: number): Promise<boolean> {
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

  it('stores no token for an account disabled, deleted or readdressed since it was read', async () => {
    const live = async (userId: string) =>
      t.db.kysely.selectFrom('email_tokens').select('id').where('user_id', '=', userId).execute();
    const disabled = await users.insert(userRow({ disabled: 1 }));
    await expect(issue(disabled.id, disabled.email, 1)).resolves.toBe(false);
    expect(await live(disabled.id)).toEqual([]);
    const moved = await users.insert(userRow());
    await expect(issue(moved.id, `old-${moved.email}`, 1)).resolves.toBe(false);
    expect(await live(moved.id)).toEqual([]);
    // Deleted: nothing to store it for, and no foreign-key failure either.
    const gone = userRow();
    await expect(issue(gone.id, gone.email, 1)).resolves.toBe(false);
    const enabled = await users.insert(userRow());
    await expect(issue(enabled.id, enabled.email, 1)).resolves.toBe(true);
    expect(await live(enabled.id)).toHaveLength(1);
  });

  async function changeToken(
    user: { id: string; email: string },
    to: string,
  ): Promise<{ id: string; hash: string }> {
    const hash = sha256Hex(`${user.id}-change-${to}`);
    await tokens.issue({
      userId: user.id,
      purpose: 'email_change',
      tokenHash: hash,
      email: user.email,
      newEmail: to,
      now: T0,
      expiresAt: T0 + 3_600_000,
    });
    const row = await tokens.findLive(hash, 'email_change', T0);
    expect(row).toMatchObject({ email: user.email, new_email: to });
    return { id: row!.id, hash };
  }

  it('applies an e-mail change once: address, verification, token spent, every other token deleted', async () => {
    const user = await users.insert(userRow());
    await issue(user.id, user.email, 1);
    const to = `moved-${user.id}@example.test`;
    const { id, hash } = await changeToken(user, to);
    const change = { tokenId: id, userId: user.id, from: user.email, to, now: T0 + 1 };
    const outcome = await tokens.applyEmailChange(change);
    expect(outcome).toMatchObject({ kind: 'changed', user: { email: to, email_verified: 1 } });
    expect(await users.findByEmail(to)).toMatchObject({ id: user.id });
    expect(
      await t.db.kysely
        .selectFrom('email_tokens')
        .select('id')
        .where('user_id', '=', user.id)
        .execute(),
    ).toEqual([]);
    expect(await tokens.findLive(hash, 'email_change', T0 + 2)).toBeUndefined();
    await expect(tokens.applyEmailChange(change)).resolves.toEqual({ kind: 'invalid' });
  });

  it('lets the unique address decide a race: a taken address changes nothing and keeps the token', async () => {
    // What the service's lookup cannot exclude: the address is registered after the check.
    const user = await users.insert(userRow());
    const holder = await users.insert(userRow());
    const { id, hash } = await changeToken(user, holder.email);
    const outcome = await tokens.applyEmailChange({
      tokenId: id,
      userId: user.id,
      from: user.email,
      to: holder.email,
      now: T0 + 1,
    });
    expect(outcome).toEqual({ kind: 'taken' });
    expect(await users.findById(user.id)).toMatchObject({ email: user.email, email_verified: 0 });
    expect(await users.findById(holder.id)).toMatchObject({ email: holder.email });
    // Rolled back with the rest: the token is still unused.
    expect(await tokens.findLive(hash, 'email_change', T0 + 2)).toBeDefined();
  });

  it('changes nothing for an account that no longer has the old address, or is disabled, or an expired token', async () => {
    const user = await users.insert(userRow());
    const to = `never-${user.id}@example.test`;
    const first = await changeToken(user, to);
    await expect(
      tokens.applyEmailChange({
        tokenId: first.id,
        userId: user.id,
        from: 'someone-else@example.test',
        to,
        now: T0 + 1,
      }),
    ).resolves.toEqual({ kind: 'invalid' });
    const second = await changeToken(user, to);
    await users.update(user.id, { disabled: 1 });
    await expect(
      tokens.applyEmailChange({
        tokenId: second.id,
        userId: user.id,
        from: user.email,
        to,
        now: T0 + 1,
      }),
    ).resolves.toEqual({ kind: 'invalid' });
    await users.update(user.id, { disabled: 0 });
    const third = await changeToken(user, to);
    await expect(
      tokens.applyEmailChange({
        tokenId: third.id,
        userId: user.id,
        from: user.email,
        to,
        now: T0 + 3_600_000,
      }),
    ).resolves.toEqual({ kind: 'invalid' });
    expect(await users.findById(user.id)).toMatchObject({ email: user.email });
  });

  it('lets exactly one of two concurrent uses of a change token through', async () => {
    const user = await users.insert(userRow());
    const to = `once-${user.id}@example.test`;
    const { id } = await changeToken(user, to);
    const change = { tokenId: id, userId: user.id, from: user.email, to, now: T0 + 1 };
    const outcomes = await Promise.all([
      tokens.applyEmailChange(change),
      tokens.applyEmailChange(change),
    ]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['changed', 'invalid']);
  });
});
