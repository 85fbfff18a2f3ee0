import { execFile } from 'node:child_process';
import { createPrivateKey, randomInt, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FieldCipher, totpCode } from '../../src/crypto/index.js';
import { ENCRYPTED_COLUMNS, fieldContext } from '../../src/db/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialectUnderTest } from '../helpers/db.js';

/*
 * SPEC checklist line 9, from the attacker's side: someone with a copy of the database files
 * (SQLite: the main file, -wal and -shm; PostgreSQL: a pg_dump) but not the master key must find
 * neither the phone number, nor the password, nor any private signing key byte, nor the TOTP
 * secret or a recovery code in them. The
 * data goes in through the real HTTP API. Control checks (the email, which is stored in clear
 * on purpose, and the stored envelope itself) prove the search reads the right bytes.
 */

const execFileAsync = promisify(execFile);
const PG_DUMP = '/usr/bin/pg_dump';

let t: TestApp;
let base: string;
const email = `leak-${randomUUID().slice(0, 8)}@example.com`;
const password = `Quartz ${randomUUID()} meadow lantern`;
// A number no other test uses, typed the way people type it.
const digits = `${randomInt(200, 999)}${randomInt(200, 999)}${randomInt(1000, 9999)}`;
const typedPhone = `+1 (${digits.slice(0, 3)}) ${digits.slice(3, 6)}-${digits.slice(6)}`;
const e164 = `+1${digits}`;
let userId: string;

/** Every form a secret could take on disk, as bytes. */
const secrets: { label: string; bytes: Buffer }[] = [];

function addText(label: string, text: string): void {
  secrets.push({ label, bytes: Buffer.from(text, 'utf8') });
}

function addBinary(label: string, bytes: Buffer): void {
  secrets.push({ label: `${label} (binary)`, bytes });
  addText(`${label} (base64)`, bytes.toString('base64'));
  addText(`${label} (base64url)`, bytes.toString('base64url'));
  addText(`${label} (hex)`, bytes.toString('hex'));
}

async function api(method: string, path: string, body: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await buildTestApp();
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  const registered = await api('POST', '/api/v1/auth/register', {
    email,
    password,
    name: 'Ada Example',
  });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  const login = await api('POST', '/api/v1/auth/login', { email, password });
  expect(login.status).toBe(200);
  const token = login.body.accessToken as string;
  userId = (login.body.user as { id: string }).id;
  const patched = await api('PATCH', '/api/v1/users/me', { phone: typedPhone }, token);
  expect(patched.status).toBe(200);
  expect(patched.body.phone).toBe(e164);
  // A second signing key, so a retired private key is in the files too.
  await t.app.services.signingKeys.rotate();
  // MFA: the TOTP secret is stored encrypted, the recovery codes only as keyed hashes.
  const setup = await api('POST', '/api/v1/auth/mfa/totp/setup', { password }, token);
  expect(setup.status, JSON.stringify(setup.body)).toBe(200);
  const totpSecret = setup.body.secret as string;
  const confirm = await api(
    'POST',
    '/api/v1/auth/mfa/totp/confirm',
    { mfaCode: totpCode(totpSecret, Date.now()) },
    token,
  );
  expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
  const recoveryCodes = confirm.body.recoveryCodes as string[];
  expect(recoveryCodes).toHaveLength(10);

  addText('phone as typed', typedPhone);
  addText('phone E.164', e164);
  addText('phone digits', digits);
  addText('password', password);
  addText('password (base64)', Buffer.from(password).toString('base64'));
  addText('TOTP secret (base32)', totpSecret);
  addBinary('TOTP secret', base32Bytes(totpSecret));
  recoveryCodes.forEach((code, i) => {
    addText(`recovery code ${i}`, code);
    addText(`recovery code ${i} (bare)`, code.replaceAll('-', ''));
  });
  const cipher = new FieldCipher(
    t.app.services.keyring,
    ENCRYPTED_COLUMNS.signingKeysPrivateKey.purpose,
  );
  const keys = await t.testDb.db.kysely.selectFrom('signing_keys').selectAll().execute();
  expect(keys).toHaveLength(2);
  for (const row of keys) {
    const jwk = JSON.parse(
      cipher.decrypt(
        row.private_key_enc,
        fieldContext(ENCRYPTED_COLUMNS.signingKeysPrivateKey, row.id),
      ),
    ) as { d: string; kty: string; crv?: string; x: string };
    addText(`JWK d of ${row.id}`, jwk.d);
    addBinary(`private key bytes of ${row.id}`, Buffer.from(jwk.d, 'base64url'));
    const der = createPrivateKey({ key: jwk, format: 'jwk' }).export({
      type: 'pkcs8',
      format: 'der',
    });
    addBinary(`PKCS8 DER of ${row.id}`, der);
  }
});

afterAll(async () => {
  await t.app.close();
});

/** RFC 4648 base32 (the TOTP secret's text form) to bytes. */
function base32Bytes(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of text) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const bytes = bits.match(/.{8}/g) ?? [];
  return Buffer.from(bytes.map((byte) => parseInt(byte, 2)));
}

async function storedTotpEnvelope(): Promise<string> {
  const row = await t.testDb.db.kysely
    .selectFrom('totp_factors')
    .select('secret_enc')
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return row.secret_enc;
}

/** The labels of the secrets found in `bytes`. */
function leaks(bytes: Buffer): string[] {
  return secrets.filter((s) => bytes.includes(s.bytes)).map((s) => s.label);
}

async function storedEnvelope(): Promise<string> {
  const row = await t.testDb.db.kysely
    .selectFrom('users')
    .select('phone_enc')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  return row.phone_enc!;
}

describe.runIf(dialectUnderTest === 'sqlite')('the raw SQLite files', () => {
  function files(): Record<string, Buffer> {
    const path = t.testDb.sqlitePath;
    const out: Record<string, Buffer> = {};
    for (const name of [path, `${path}-wal`, `${path}-shm`]) {
      if (existsSync(name)) out[name] = readFileSync(name);
    }
    return out;
  }

  it('hold no secret before a checkpoint (main file, -wal, -shm), byte for byte', async () => {
    const before = files();
    // The WAL exists and holds this run's writes: the search covers where fresh data sits.
    expect(Object.keys(before)).toHaveLength(3);
    const all = Buffer.concat(Object.values(before));
    // Control: things stored in clear are found, so the search itself works.
    expect(all.includes(Buffer.from(email))).toBe(true);
    expect(all.includes(Buffer.from(await storedEnvelope()))).toBe(true);
    expect(all.includes(Buffer.from(await storedTotpEnvelope()))).toBe(true);
    for (const [name, bytes] of Object.entries(before))
      expect([name, leaks(bytes)]).toEqual([name, []]);
  });

  it('hold no secret after a checkpoint moved everything into the main file', async () => {
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(t.testDb.db.kysely);
    const after = files();
    const main = after[t.testDb.sqlitePath]!;
    expect(main.includes(Buffer.from(email))).toBe(true);
    expect(main.includes(Buffer.from(await storedEnvelope()))).toBe(true);
    for (const [name, bytes] of Object.entries(after))
      expect([name, leaks(bytes)]).toEqual([name, []]);
  });
});

/** pg_dump (plain SQL) of this test's schema, as an attacker would take it. */
async function pgDump(): Promise<Buffer> {
  const url = new URL(t.testDb.url!);
  const schema = /search_path=(\S+)/.exec(url.searchParams.get('options') ?? '')?.[1];
  expect(schema).toMatch(/^bw_[0-9a-f]{16}$/);
  url.searchParams.delete('options');
  const { stdout } = await execFileAsync(
    PG_DUMP,
    ['--schema', schema!, '--no-owner', '--dbname', url.toString()],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** Everything an attacker copies on this dialect, after a checkpoint on SQLite. */
async function rawCopy(): Promise<Buffer> {
  if (dialectUnderTest === 'postgres') return pgDump();
  await sql`pragma wal_checkpoint(TRUNCATE)`.execute(t.testDb.db.kysely);
  const path = t.testDb.sqlitePath;
  return Buffer.concat(
    [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
  );
}

describe.runIf(dialectUnderTest === 'postgres')('a pg_dump of the schema', () => {
  it('holds no secret', async () => {
    const dump = await pgDump();
    // Control: the dump has this test's rows.
    expect(dump.includes(Buffer.from(email))).toBe(true);
    expect(dump.includes(Buffer.from(await storedEnvelope()))).toBe(true);
    expect(dump.includes(Buffer.from(await storedTotpEnvelope()))).toBe(true);
    expect(leaks(dump)).toEqual([]);
  });
});

describe('the leak search itself', () => {
  // Last on purpose: it writes the number in clear, as a careless column would.
  it(`finds the phone digits once they are stored in clear (${dialectUnderTest})`, async () => {
    expect(leaks(await rawCopy())).toEqual([]);
    const row = await t.testDb.db.kysely
      .updateTable('users')
      .set({ name: `Ada ${digits}` })
      .where('id', '=', userId)
      .executeTakeFirst();
    expect(row.numUpdatedRows).toBe(1n);
    expect(leaks(await rawCopy())).toEqual(['phone digits']);
  });

  it('finds a secret that is there (so an empty result means something)', () => {
    const planted = Buffer.concat([Buffer.from('noise'), secrets[0]!.bytes, Buffer.from('noise')]);
    expect(leaks(planted)).toEqual(['phone as typed']);
    const key = secrets.find(
      (s) => s.label.startsWith('PKCS8 DER') && s.label.endsWith('(binary)'),
    )!;
    expect(leaks(Buffer.concat([Buffer.alloc(100), key.bytes]))).toContain(key.label);
  });
});
