import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { buildTestApp, LogCapture, testConfigInput, type TestApp } from '../helpers/app.js';
import { createMigratedTestDb } from '../helpers/db.js';
import { bearer, createUserAndLogin, registerAndLogin } from '../helpers/identity.js';
import { enrolMfa } from '../helpers/mfa.js';

/*
 * docs/security.md "Encryption at rest": "Bulwark never writes it [the master key] to a log, an
 * error message or the audit trail." The service runs through everything that uses the key
 * (signing keys, phone numbers, TOTP secrets, a rotation, a value that fails to decrypt) at debug
 * level, and nothing it logged, answered or audited holds the key in any encoding.
 */
const masterKey = randomBytes(32);
const encodings = (key: Buffer): string[] => [
  key.toString('base64'),
  key.toString('base64url'),
  key.toString('hex'),
  // A prefix is enough to recognise a leak (a truncated or wrapped log line).
  key.toString('base64').slice(0, 16),
  key.toString('hex').slice(0, 16),
];

describe('the master key', () => {
  let t: TestApp;
  const answers: string[] = [];
  beforeAll(async () => {
    t = await buildTestApp({ keys: { masterKey: masterKey.toString('base64') } });
  });
  afterAll(() => t.app.close());

  it('never appears in a log line, an answer or the audit trail', async () => {
    const user = await registerAndLogin(t.app);
    const admin = await createUserAndLogin(t.app, 'admin');
    const phone = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: bearer(user.accessToken),
      payload: { phone: '+441632960961' },
    });
    expect(phone.statusCode, phone.body).toBe(200);
    answers.push(phone.body);
    await enrolMfa(t.app, user.accessToken, Date.now());
    await t.app.services.signingKeys.rotate();
    // A value that fails to decrypt: logged as a DecryptionError with its reason.
    await t.app.services.usersRepo.update(user.id, { phone_enc: `bwf1.1.${'A'.repeat(60)}` });
    const broken = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(admin.accessToken),
    });
    expect(broken.statusCode).toBe(500);
    answers.push(broken.body);
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: bearer(admin.accessToken),
    });
    expect(list.statusCode, list.body).toBe(200);
    answers.push(list.body);
    expect(t.logs.raw.some((line) => line.includes('DecryptionError'))).toBe(true);

    await t.app.services.auditSink.flush();
    const audit = JSON.stringify(await t.app.services.auditLog.list({ limit: 1_000 }));
    expect(audit).toContain(user.id);
    const everything = [...t.logs.raw, ...answers, audit].join('\n');
    for (const form of encodings(masterKey)) expect(everything).not.toContain(form);
  });

  it('never appears in the error of a start that refuses it', async () => {
    const testDb = await createMigratedTestDb();
    try {
      for (const bad of [randomBytes(31), randomBytes(33)]) {
        const logs = new LogCapture();
        const config = createConfig(
          testConfigInput(testDb, { keys: { masterKey: bad.toString('base64') } }),
        );
        const error = await buildApp(config, { logger: logs }).then(
          (app) => app.close().then(() => new Error('started')),
          (error: unknown) => error as Error,
        );
        expect(error.message).not.toBe('started');
        const text = [error.message, String(error.stack), ...logs.raw].join('\n');
        for (const form of encodings(bad)) expect(text).not.toContain(form);
      }
    } finally {
      await testDb.cleanup();
    }
  });
});
