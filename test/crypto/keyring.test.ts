import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Keyring, KeyringError } from '../../src/crypto/keyring.js';

/** A 32-byte buffer whose byte i is `byte(i)`. */
function bytes32(byte: (i: number) => number): Buffer {
  return Buffer.from(Array.from({ length: 32 }, (_, i) => byte(i) & 0xff));
}

const KEY1 = bytes32((i) => i * 37 + 11);
const KEY2 = randomBytes(32);
const B64_1 = KEY1.toString('base64');
const B64_2 = KEY2.toString('base64');
const posix = process.platform !== 'win32';

/** HKDF written from RFC 5869 section 2 with HMAC alone, to check node's hkdfSync against. */
function referenceHkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i += 1) {
    previous = createHmac('sha256', prk)
      .update(Buffer.concat([previous, info, Buffer.from([i])]))
      .digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

describe('HKDF (RFC 5869)', () => {
  // Test case 1, RFC 5869 appendix A.1.
  const ikm = Buffer.from('0b'.repeat(22), 'hex');
  const salt = Buffer.from('000102030405060708090a0b0c', 'hex');
  const info = Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex');
  const okm =
    '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865';

  it('the primitive deriveKey uses matches test case 1', () => {
    expect(Buffer.from(hkdfSync('sha256', ikm, salt, info, 42)).toString('hex')).toBe(okm);
    expect(referenceHkdf(ikm, salt, info, 42).toString('hex')).toBe(okm);
  });

  it('deriveKey is HKDF-SHA256(master, salt, "bulwark/v1/<purpose>", 32)', () => {
    const keyring = new Keyring(new Map([[1, KEY1]]), 1);
    const derived = keyring.deriveKey('field-encryption', 1, salt);
    expect(derived).toHaveLength(32);
    expect(
      derived.equals(referenceHkdf(KEY1, salt, Buffer.from('bulwark/v1/field-encryption'), 32)),
    ).toBe(true);
  });
});

describe('Keyring', () => {
  const keyring = new Keyring(
    new Map([
      [1, KEY1],
      [2, KEY2],
    ]),
    2,
  );

  it('lists its versions and current version', () => {
    expect(keyring.currentVersion).toBe(2);
    expect(keyring.versions()).toEqual([1, 2]);
    expect(keyring.has(1)).toBe(true);
    expect(keyring.has(3)).toBe(false);
  });

  it('derives independent keys per purpose, version and salt', () => {
    const salt = Buffer.alloc(16, 1);
    const keys = [
      keyring.deriveKey('field-encryption', 2, salt),
      keyring.deriveKey('signing-key-wrap', 2, salt),
      keyring.deriveKey('field-encryption', 1, salt),
      keyring.deriveKey('field-encryption', 2, Buffer.alloc(16, 2)),
    ].map((k) => k.toString('hex'));
    expect(new Set(keys).size).toBe(4);
    expect(keyring.deriveKey('field-encryption', 2, salt).toString('hex')).toBe(keys[0]);
  });

  it('refuses an unknown version or a malformed purpose', () => {
    const salt = Buffer.alloc(16);
    expect(() => keyring.deriveKey('field-encryption', 3, salt)).toThrow(KeyringError);
    for (const purpose of ['', 'Field', 'a/b', 'x'.repeat(65), 'café']) {
      expect(() => keyring.deriveKey(purpose, 2, salt)).toThrow(KeyringError);
    }
  });

  it('refuses keys that are not 32 bytes, bad versions, and a missing current key', () => {
    expect(() => new Keyring(new Map([[1, Buffer.alloc(31, 1)]]), 1)).toThrow(/exactly 32 bytes/);
    expect(() => new Keyring(new Map([[1, Buffer.alloc(33, 1)]]), 1)).toThrow(KeyringError);
    expect(() => new Keyring(new Map([[0, KEY1]]), 0)).toThrow(KeyringError);
    expect(() => new Keyring(new Map([[1.5, KEY1]]), 1.5)).toThrow(KeyringError);
    expect(() => new Keyring(new Map([[1, KEY1]]), 2)).toThrow(/not in the keyring/);
    expect(() => new Keyring(new Map(), 1)).toThrow(KeyringError);
  });

  it('keeps its own copy of the keys', () => {
    const key = Buffer.from(KEY1);
    const own = new Keyring(new Map([[1, key]]), 1);
    const before = own.deriveKey('test', 1, Buffer.alloc(16));
    key.fill(0);
    expect(own.deriveKey('test', 1, Buffer.alloc(16)).equals(before)).toBe(true);
  });

  it('never shows key bytes when logged or inspected', () => {
    const shown = [
      JSON.stringify(keyring),
      inspect(keyring),
      `${inspect({ keyring }, { depth: 5 })}`,
    ].join('\n');
    expect(shown).not.toContain(B64_1);
    expect(shown).not.toContain(B64_2);
    expect(shown).not.toContain(KEY1.toString('hex'));
    expect(JSON.parse(JSON.stringify(keyring))).toEqual({ currentVersion: 2, versions: [1, 2] });
  });

  it('adds a version with a fresh current key and keeps the old ones', () => {
    const next = keyring.addVersion();
    expect(next.currentVersion).toBe(3);
    expect(next.versions()).toEqual([1, 2, 3]);
    const json = next.toFileJson();
    expect(json.current).toBe(3);
    expect(json.keys['1']).toBe(B64_1);
    expect(json.keys['2']).toBe(B64_2);
    expect(Buffer.from(json.keys['3']!, 'base64')).toHaveLength(32);
    expect(json.keys['3']).not.toBe(B64_2);
    // The original is unchanged.
    expect(keyring.versions()).toEqual([1, 2]);
  });

  it('round-trips through its file JSON', () => {
    const json = keyring.toFileJson();
    expect(json).toEqual({ current: 2, keys: { '1': B64_1, '2': B64_2 } });
  });
});

describe('Keyring.fromEnvValue', () => {
  it('reads one bare base64 key as version 1', () => {
    const keyring = Keyring.fromEnvValue(` ${B64_1}\n`);
    expect(keyring.versions()).toEqual([1]);
    expect(keyring.currentVersion).toBe(1);
    expect(keyring.toFileJson().keys['1']).toBe(B64_1);
  });

  it('accepts URL-safe base64 without padding', () => {
    const keyring = Keyring.fromEnvValue(KEY2.toString('base64url'));
    expect(keyring.toFileJson().keys['1']).toBe(B64_2);
  });

  it('reads a version list and makes the highest version current, whatever the order', () => {
    const keyring = Keyring.fromEnvValue(`2:${B64_2}, 1:${B64_1}`);
    expect(keyring.versions()).toEqual([1, 2]);
    expect(keyring.currentVersion).toBe(2);
    expect(Keyring.fromEnvValue(`1:${B64_1},7:${B64_2}`).currentVersion).toBe(7);
  });

  it.each([
    ['empty', '   '],
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(48).toString('base64')],
    ['not base64', 'this is not base64 at all, is it?'],
    ['bad characters', `${B64_1.slice(0, -2)}!=`],
    ['bad base64 in a list', `1:${B64_1},2:***${B64_2.slice(3)}`],
    ['a short key in a list', `1:${B64_1},2:${randomBytes(31).toString('base64')}`],
    ['a missing colon', `1:${B64_1},${B64_2}`],
    ['version 0', `0:${B64_1}`],
    ['a non-numeric version', `v2:${B64_1}`],
    ['a repeated version', `1:${B64_1},1:${B64_2}`],
  ])('refuses %s, without echoing the key', (_name, value) => {
    let error: unknown;
    try {
      Keyring.fromEnvValue(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyringError);
    const message = (error as Error).message;
    for (const part of value.split(/[,:]/)) {
      if (part.trim().length > 8) expect(message).not.toContain(part.trim());
    }
  });

  it('says how long the key was and how to make a good one', () => {
    expect(() => Keyring.fromEnvValue(randomBytes(16).toString('base64'))).toThrow(
      /exactly 32 bytes, got 16.*openssl rand -base64 32/,
    );
  });
});

describe('Keyring files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-keyring-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function writeKeyFile(name: string, content: string, mode = 0o600): string {
    const path = join(dir, name);
    writeFileSync(path, content, { mode });
    chmodSync(path, mode);
    return path;
  }

  it('reads a key file with several versions', () => {
    const path = writeKeyFile(
      'keys.json',
      JSON.stringify({ current: 1, keys: { '1': B64_1, '2': B64_2 } }),
    );
    const keyring = Keyring.fromFile(path);
    // The file's `current` wins, even when it is not the highest version (a rollback).
    expect(keyring.currentVersion).toBe(1);
    expect(keyring.versions()).toEqual([1, 2]);
  });

  it.skipIf(!posix).each([0o644, 0o640, 0o604, 0o660, 0o602])(
    'refuses a key file with mode %o and says to chmod 600',
    (mode) => {
      const path = writeKeyFile(
        `open-${mode.toString(8)}.json`,
        JSON.stringify({ current: 1, keys: { '1': B64_1 } }),
        mode,
      );
      expect(() => Keyring.fromFile(path)).toThrow(/group or others.*chmod 600/);
    },
  );

  it.each([
    ['not JSON', `{"current": 1, "keys": {"1": "${B64_1}"`],
    ['an array', '[]'],
    ['no keys', '{"current": 1}'],
    ['a string version', `{"current": "1", "keys": {"1": "${B64_1}"}}`],
    ['a current without key', `{"current": 2, "keys": {"1": "${B64_1}"}}`],
    ['an unknown field', `{"current": 1, "keys": {"1": "${B64_1}"}, "extra": true}`],
    ['a bad version name', `{"current": 1, "keys": {"1": "${B64_1}", "x": "${B64_2}"}}`],
    ['a short key', `{"current": 1, "keys": {"1": "${randomBytes(8).toString('base64')}"}}`],
    ['a non-string key', '{"current": 1, "keys": {"1": 12345}}'],
  ])('refuses a file with %s, without echoing its content', (name, content) => {
    const path = writeKeyFile(`bad-${name.replaceAll(' ', '-')}.json`, content);
    let error: unknown;
    try {
      Keyring.fromFile(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyringError);
    expect((error as Error).message).not.toContain(B64_1);
    expect((error as Error).message).not.toContain(B64_1.slice(0, 10));
    expect((error as Error).cause).toBeUndefined();
  });

  it('creates a missing dev key file with mode 0600 in a 0700 directory', () => {
    const path = join(dir, 'dev', 'nested', 'master-key.json');
    const first = Keyring.loadOrCreateDevFile(path);
    expect(first.created).toBe(true);
    expect(first.keyring.versions()).toEqual([1]);
    if (posix) {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'dev', 'nested')).mode & 0o777).toBe(0o700);
    }
    const json = JSON.parse(readFileSync(path, 'utf8'));
    expect(json).toEqual(first.keyring.toFileJson());
    expect(Keyring.looksWeak(Buffer.from(json.keys['1'], 'base64'))).toBe(false);

    const second = Keyring.loadOrCreateDevFile(path);
    expect(second.created).toBe(false);
    expect(second.keyring.toFileJson()).toEqual(first.keyring.toFileJson());
  });

  it.skipIf(!posix)('refuses to load an existing dev key file that others can read', () => {
    const path = writeKeyFile(
      'dev-open.json',
      JSON.stringify({ current: 1, keys: { '1': B64_1 } }),
      0o644,
    );
    expect(() => Keyring.loadOrCreateDevFile(path)).toThrow(/chmod 600/);
    // The existing key was neither replaced nor re-permissioned.
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(JSON.parse(readFileSync(path, 'utf8')).keys['1']).toBe(B64_1);
  });
});

describe('Keyring.looksWeak', () => {
  it.each([
    ['all zeros', Buffer.alloc(32)],
    ['one repeated byte', Buffer.alloc(32, 0xa5)],
    ['a short pattern', bytes32((i) => i % 8)],
    ['15 distinct bytes', bytes32((i) => (i % 15) * 17)],
    ['a counting sequence', bytes32((i) => i + 200)],
    ['a repetitive passphrase', Buffer.from('correct horse battery staple!!!!')],
    ['a printable passphrase', Buffer.from('Tr0ub4dor&3-quick-brown-FOX-jump')],
    ['the wrong length', randomBytes(16)],
  ])('flags %s', (_name, key) => {
    expect(Keyring.looksWeak(key)).toBe(true);
  });

  it('does not flag random keys', () => {
    for (let i = 0; i < 2000; i += 1) expect(Keyring.looksWeak(randomBytes(32))).toBe(false);
  });

  it('lists the weak versions of a keyring', () => {
    const keyring = new Keyring(
      new Map([
        [1, Buffer.alloc(32, 7)],
        [2, KEY2],
      ]),
      2,
    );
    expect(keyring.weakVersions()).toEqual([1]);
  });
});
