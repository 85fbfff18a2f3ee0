import { hash as argon2Hash, type Algorithm } from '@node-rs/argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PasswordHasher } from '../../src/crypto/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { holdNextPasswordCheck } from '../helpers/hold-password-check.js';
import { bearer, login, STRONG_PASSWORD, uniqueEmail } from '../helpers/identity.js';
import { expectAccessWorks, expectProblem, postLogin, register } from './support.js';

let t: TestApp;
beforeAll(async () => {
  // The "current policy" is m=2048; the legacy hashes below are weaker.
  t = await buildTestApp({ passwords: { argon2MemoryKiB: 2048, argon2Iterations: 1 } });
});
afterAll(async () => {
  await t.app.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const WRONG_PASSWORD = 'not the right password at all 7';
const weaker = new PasswordHasher({ memoryKiB: 1024, iterations: 1, parallelism: 1 });

async function newUser(): Promise<{ id: string; email: string }> {
  const email = uniqueEmail('rehash');
  const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Rehash User' });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json<{ user: { id: string } }>().user.id, email };
}

async function storedHash(id: string): Promise<string> {
  const row = await t.app.services.usersRepo.findById(id);
  return row!.password_hash!;
}

describe('password hash upgrade on login', () => {
  it('hashes new passwords with the configured parameters', async () => {
    const { id } = await newUser();
    expect(await storedHash(id)).toMatch(/^\$argon2id\$v=19\$m=2048,t=1,p=1\$/);
  });

  it('upgrades an argon2id hash made with weaker parameters', async () => {
    const { id, email } = await newUser();
    const legacy = await weaker.hash(STRONG_PASSWORD);
    expect(legacy).toMatch(/\$m=1024,t=1,p=1\$/);
    await t.app.services.usersRepo.update(id, { password_hash: legacy });

    const res = await postLogin(t.app, email);
    expect(res.statusCode, res.body).toBe(200);
    const upgraded = await storedHash(id);
    expect(upgraded).not.toBe(legacy);
    expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=2048,t=1,p=1\$/);
    // The new hash still holds the same password.
    expect((await postLogin(t.app, email)).statusCode).toBe(200);
    await expectAccessWorks(t.app, res.json<{ accessToken: string }>().accessToken);
  });

  it('upgrades an argon2i hash to argon2id', async () => {
    const { id, email } = await newUser();
    // Same parameters, older variant: still outdated.
    const argon2i = await argon2Hash(STRONG_PASSWORD, {
      // Algorithm.Argon2i: an ambient const enum, which verbatimModuleSyntax cannot inline.
      algorithm: 1 as Algorithm,
      memoryCost: 2048,
      timeCost: 1,
      parallelism: 1,
    });
    expect(argon2i).toMatch(/^\$argon2i\$/);
    await t.app.services.usersRepo.update(id, { password_hash: argon2i });
    expect((await postLogin(t.app, email)).statusCode).toBe(200);
    expect(await storedHash(id)).toMatch(/^\$argon2id\$v=19\$m=2048,t=1,p=1\$/);
  });

  it('leaves a current hash alone', async () => {
    const { id, email } = await newUser();
    const before = await storedHash(id);
    expect((await postLogin(t.app, email)).statusCode).toBe(200);
    expect(await storedHash(id)).toBe(before);
  });

  it('does not touch a weak hash when the password is wrong', async () => {
    const { id, email } = await newUser();
    const legacy = await weaker.hash(STRONG_PASSWORD);
    await t.app.services.usersRepo.update(id, { password_hash: legacy });
    expectProblem(await postLogin(t.app, email, WRONG_PASSWORD), 401, 'invalid_credentials');
    expect(await storedHash(id)).toBe(legacy);
  });

  it('lets a user with a legacy bcrypt hash log in and replaces it with argon2id', async () => {
    const { id, email } = await newUser();
    const legacy = await bcryptHash(STRONG_PASSWORD, 4);
    expect(legacy).toMatch(/^\$2[aby]\$04\$/);
    await t.app.services.usersRepo.update(id, { password_hash: legacy });

    const res = await postLogin(t.app, email);
    expect(res.statusCode, res.body).toBe(200);
    const upgraded = await storedHash(id);
    expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=2048,t=1,p=1\$/);
    expect((await postLogin(t.app, email)).statusCode).toBe(200);
    expectProblem(await postLogin(t.app, email, WRONG_PASSWORD), 401, 'invalid_credentials');
  });

  it('refuses a long password that only shares its first 72 bytes with a bcrypt one, and keeps the hash', async () => {
    const { id, email } = await newUser();
    const prefix = 'correct horse battery staple '.repeat(3).slice(0, 72);
    const legacy = await bcryptHash(`${prefix} and the real ending`, 4);
    await t.app.services.usersRepo.update(id, { password_hash: legacy });
    const res = await postLogin(t.app, email, `${prefix} and a guessed ending`);
    expectProblem(res, 401, 'invalid_credentials');
    // Not replaced by an argon2id hash of the attacker's string.
    expect(await storedHash(id)).toBe(legacy);
  });

  it('refuses a wrong password against a bcrypt hash and keeps the hash', async () => {
    const { id, email } = await newUser();
    const legacy = await bcryptHash(STRONG_PASSWORD, 4);
    await t.app.services.usersRepo.update(id, { password_hash: legacy });
    expectProblem(await postLogin(t.app, email, WRONG_PASSWORD), 401, 'invalid_credentials');
    expect(await storedHash(id)).toBe(legacy);
  });

  it('does not upgrade the hash of a disabled account', async () => {
    const { id, email } = await newUser();
    const legacy = await bcryptHash(STRONG_PASSWORD, 4);
    await t.app.services.usersRepo.update(id, { password_hash: legacy, disabled: 1 });
    expectProblem(await postLogin(t.app, email), 403, 'account_disabled');
    expect(await storedHash(id)).toBe(legacy);
  });

  it('answers a malformed stored hash as invalid_credentials, not a 500', async () => {
    const { id, email } = await newUser();
    await t.app.services.usersRepo.update(id, { password_hash: 'plaintext-from-2009' });
    const res = await postLogin(t.app, email);
    expectProblem(res, 401, 'invalid_credentials');
  });

  it('answers a user without a password (e.g. SSO-only) as invalid_credentials', async () => {
    const { id, email } = await newUser();
    await t.app.services.usersRepo.update(id, { password_hash: null });
    expectProblem(await postLogin(t.app, email), 401, 'invalid_credentials');
  });

  it('never writes a hash of the old password over a password changed while it was checked', async () => {
    const { id, email } = await newUser();
    const session = await login(t.app, email);
    const legacy = await weaker.hash(STRONG_PASSWORD);
    await t.app.services.usersRepo.update(id, { password_hash: legacy });
    const NEW_PASSWORD = 'velvet orbit lantern mosaic 93';

    const { checking, release } = holdNextPasswordCheck(t.app);
    const pending = postLogin(t.app, email);
    await checking;
    const change = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: bearer(session.accessToken),
      payload: { currentPassword: STRONG_PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(change.statusCode, change.body).toBe(204);
    release();

    expectProblem(await pending, 401, 'invalid_credentials');
    expectProblem(await postLogin(t.app, email, STRONG_PASSWORD), 401, 'invalid_credentials');
    expect((await postLogin(t.app, email, NEW_PASSWORD)).statusCode).toBe(200);
  });
});
