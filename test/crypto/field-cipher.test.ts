import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError, FieldCipher } from '../../src/crypto/field-cipher.js';
import { Keyring } from '../../src/crypto/keyring.js';

const AT = { table: 'users', column: 'phone', rowId: '42' };
const SECRET = '+44 20 7946 0958';

function keyringOf(...versions: number[]): Keyring {
  return new Keyring(new Map(versions.map((v) => [v, randomBytes(32)])), Math.max(...versions));
}

function decryptError(fn: () => unknown): DecryptionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DecryptionError);
    return error as DecryptionError;
  }
  throw new Error('expected a DecryptionError');
}

/** Flips one bit of the bytes a base64url part encodes and re-encodes it canonically. */
function flipBit(part: string, byte = 0): string {
  const bytes = Buffer.from(part, 'base64url');
  bytes[byte] = bytes[byte]! ^ 0x01;
  return bytes.toString('base64url');
}

function withPart(envelope: string, index: number, value: string): string {
  const parts = envelope.split('.');
  parts[index] = value;
  return parts.join('.');
}

describe('FieldCipher', () => {
  const keyring = keyringOf(1);
  const cipher = new FieldCipher(keyring);

  it('round-trips text, including empty and non-ASCII values', () => {
    for (const value of [SECRET, '', 'JBSWY3DPEHPK3PXP', 'ünïcødé 🦊 ✓', 'x'.repeat(10_000)]) {
      expect(cipher.decrypt(cipher.encrypt(value, AT), AT)).toBe(value);
    }
  });

  it('writes a compact versioned envelope with a 16-byte salt, 12-byte IV and 16-byte tag', () => {
    const envelope = cipher.encrypt(SECRET, AT);
    const parts = envelope.split('.');
    expect(parts).toHaveLength(6);
    expect(parts[0]).toBe('bwf1');
    expect(parts[1]).toBe('1');
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(parts[3]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(Buffer.byteLength(SECRET));
    expect(Buffer.from(parts[5]!, 'base64url')).toHaveLength(16);
    expect(envelope).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(envelope).not.toContain(SECRET);
  });

  it('uses a fresh IV and salt for every encryption of the same value', () => {
    const envelopes = Array.from({ length: 50 }, () => cipher.encrypt(SECRET, AT));
    expect(new Set(envelopes).size).toBe(50);
    const salts = envelopes.map((e) => e.split('.')[2]);
    const ivs = envelopes.map((e) => e.split('.')[3]);
    expect(new Set(salts).size).toBe(50);
    expect(new Set(ivs).size).toBe(50);
    for (const envelope of envelopes) expect(cipher.decrypt(envelope, AT)).toBe(SECRET);
  });

  it.each([
    [2, 'salt'],
    [3, 'IV'],
    [4, 'ciphertext'],
    [5, 'tag'],
  ])('detects a flipped bit in part %i (%s)', (index) => {
    const envelope = cipher.encrypt(SECRET, AT);
    const part = envelope.split('.')[index]!;
    for (const byte of [0, Buffer.from(part, 'base64url').length - 1]) {
      const tampered = withPart(envelope, index, flipBit(part, byte));
      expect(decryptError(() => cipher.decrypt(tampered, AT)).reason).toBe('authentication_failed');
    }
  });

  it('detects a changed key version, known or not', () => {
    const two = keyringOf(1, 2);
    const twoCipher = new FieldCipher(two);
    const envelope = twoCipher.encrypt(SECRET, AT);
    // Version 1 exists, but the value was not written with it (and the header is authenticated).
    expect(decryptError(() => twoCipher.decrypt(withPart(envelope, 1, '1'), AT)).reason).toBe(
      'authentication_failed',
    );
    expect(decryptError(() => twoCipher.decrypt(withPart(envelope, 1, '3'), AT)).reason).toBe(
      'unknown_key_version',
    );
  });

  it('fails on a changed format tag', () => {
    const envelope = cipher.encrypt(SECRET, AT);
    for (const tag of ['bwf2', 'BWF1', 'bwf0', '']) {
      expect(decryptError(() => cipher.decrypt(withPart(envelope, 0, tag), AT)).reason).toBe(
        'malformed',
      );
    }
  });

  it.each([
    ['another row', { ...AT, rowId: '43' }],
    ['another column', { ...AT, column: 'totp_secret' }],
    ['another table', { ...AT, table: 'admins' }],
    ['a shifted separator', { table: 'users/phone', column: '42', rowId: AT.rowId }],
  ])('refuses a value copied to %s', (_name, elsewhere) => {
    const envelope = cipher.encrypt(SECRET, AT);
    expect(decryptError(() => cipher.decrypt(envelope, elsewhere)).reason).toBe(
      'authentication_failed',
    );
  });

  it('refuses a value written for another purpose', () => {
    const wrapped = new FieldCipher(keyring, 'signing-key-wrap').encrypt(SECRET, AT);
    expect(decryptError(() => cipher.decrypt(wrapped, AT)).reason).toBe('authentication_failed');
  });

  it('refuses a value written under another keyring', () => {
    const foreign = new FieldCipher(keyringOf(1)).encrypt(SECRET, AT);
    expect(decryptError(() => cipher.decrypt(foreign, AT)).reason).toBe('authentication_failed');
  });

  it('refuses a value whose key version is not in the keyring', () => {
    const newer = new FieldCipher(keyringOf(1, 2, 3)).encrypt(SECRET, AT);
    expect(cipher.keyVersionOf(newer)).toBe(3);
    const error = decryptError(() => cipher.decrypt(newer, AT));
    expect(error.reason).toBe('unknown_key_version');
    // What the log shows a 500 with: which version, and what the operator does about it.
    expect(error.keyVersion).toBe(3);
    expect(error.message).toMatch(
      /unknown key version 3: .*Fix: restart it with the current keyring/,
    );
  });

  it('refuses malformed envelopes', () => {
    const good = cipher.encrypt(SECRET, AT);
    const [format, version, salt, iv, ciphertext, tag] = good.split('.') as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const malformed = [
      '',
      SECRET,
      `${good}.`,
      `${good}.AAAA`,
      good.split('.').slice(0, 5).join('.'),
      [format, '0', salt, iv, ciphertext, tag].join('.'),
      [format, '01', salt, iv, ciphertext, tag].join('.'),
      [format, '-1', salt, iv, ciphertext, tag].join('.'),
      [format, '1e0', salt, iv, ciphertext, tag].join('.'),
      [format, version, salt.slice(0, -2), iv, ciphertext, tag].join('.'),
      [format, version, salt, `${iv}AAAA`, ciphertext, tag].join('.'),
      // A truncated tag: GCM would check only its first bytes if we let it.
      [format, version, salt, iv, ciphertext, tag.slice(0, 16)].join('.'),
      [format, version, salt, iv, ciphertext, `${tag}=`].join('.'),
      [format, version, salt, iv, `${ciphertext}+/`, tag].join('.'),
      [format, version, salt, iv.replace(/^./, '*'), ciphertext, tag].join('.'),
      ` ${good}`,
      `${good}\n`,
    ];
    for (const envelope of malformed) {
      const error = decryptError(() => cipher.decrypt(envelope, AT));
      expect(error.reason, envelope).toBe('malformed');
    }
    expect(decryptError(() => cipher.decrypt(null as unknown as string, AT)).reason).toBe(
      'malformed',
    );
  });

  it('refuses a non-canonical base64url spelling of the same bytes', () => {
    const envelope = cipher.encrypt(SECRET, AT);
    // A 16-byte tag is 22 characters whose last one carries 2 unused bits.
    const tag = envelope.split('.')[5]!;
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(
      tag.at(-1)!,
    );
    const sibling = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[
      last ^ 0x01
    ]!;
    const respelled = `${tag.slice(0, -1)}${sibling}`;
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(tag, 'base64url'))).toBe(true);
    expect(decryptError(() => cipher.decrypt(withPart(envelope, 5, respelled), AT)).reason).toBe(
      'malformed',
    );
  });

  it('keeps secrets out of error messages', () => {
    const envelope = cipher.encrypt(SECRET, AT);
    const error = decryptError(() => cipher.decrypt(envelope, { ...AT, rowId: '43' }));
    expect(error.message).toBe('Field decryption failed: authentication failed');
    expect(error.message).not.toContain(SECRET);
    expect(error.cause).toBeUndefined();
  });

  it('requires a complete location', () => {
    expect(() => cipher.encrypt(SECRET, { ...AT, rowId: '' })).toThrow(TypeError);
    expect(() => cipher.encrypt(SECRET, { ...AT, table: undefined as unknown as string })).toThrow(
      TypeError,
    );
  });

  it('refuses a malformed purpose when constructed', () => {
    expect(() => new FieldCipher(keyring, 'Signing Key')).toThrow(/purpose/);
  });
});

describe('FieldCipher key rotation', () => {
  it('still decrypts old values after a version is added, and flags them for re-encryption', () => {
    const before = keyringOf(1);
    const old = new FieldCipher(before).encrypt(SECRET, AT);

    const after = before.addVersion();
    const cipher = new FieldCipher(after);
    expect(cipher.decrypt(old, AT)).toBe(SECRET);
    expect(cipher.keyVersionOf(old)).toBe(1);
    expect(cipher.needsReencrypt(old)).toBe(true);

    const fresh = cipher.encrypt(cipher.decrypt(old, AT), AT);
    expect(cipher.keyVersionOf(fresh)).toBe(2);
    expect(cipher.needsReencrypt(fresh)).toBe(false);
    expect(cipher.decrypt(fresh, AT)).toBe(SECRET);

    // The old keyring cannot read what the new key wrote.
    expect(decryptError(() => new FieldCipher(before).decrypt(fresh, AT)).reason).toBe(
      'unknown_key_version',
    );
  });

  it('keyVersionOf and needsReencrypt refuse malformed envelopes', () => {
    const cipher = new FieldCipher(keyringOf(1));
    expect(() => cipher.keyVersionOf('bwf1.x')).toThrow(DecryptionError);
    expect(() => cipher.needsReencrypt('garbage')).toThrow(DecryptionError);
  });
});

describe('FieldCipher.reencrypt', () => {
  it('moves a value to the current version, for the same location only', () => {
    const before = keyringOf(1);
    const old = new FieldCipher(before).encrypt(SECRET, AT);
    const cipher = new FieldCipher(before.addVersion());
    const moved = cipher.reencrypt(old, AT)!;
    expect(cipher.keyVersionOf(moved)).toBe(2);
    expect(cipher.decrypt(moved, AT)).toBe(SECRET);
    // A fresh salt and IV, like any other write.
    expect(moved.split('.')[2]).not.toBe(old.split('.')[2]);
    expect(moved.split('.')[3]).not.toBe(old.split('.')[3]);
    // Still bound to its row: it does not open elsewhere.
    expect(decryptError(() => cipher.decrypt(moved, { ...AT, rowId: '43' })).reason).toBe(
      'authentication_failed',
    );
  });

  it('answers null for a current value, but only after checking it is authentic', () => {
    const cipher = new FieldCipher(keyringOf(1));
    const current = cipher.encrypt(SECRET, AT);
    expect(cipher.reencrypt(current, AT)).toBeNull();
    // A current-version envelope moved from another row is not "already done": it is refused.
    expect(decryptError(() => cipher.reencrypt(current, { ...AT, rowId: '43' })).reason).toBe(
      'authentication_failed',
    );
  });

  it('never launders a forged or moved old value into a fresh valid one', () => {
    const before = keyringOf(1);
    const old = new FieldCipher(before).encrypt(SECRET, AT);
    const cipher = new FieldCipher(before.addVersion());
    const tampered = withPart(old, 4, flipBit(old.split('.')[4]!));
    expect(decryptError(() => cipher.reencrypt(tampered, AT)).reason).toBe('authentication_failed');
    expect(decryptError(() => cipher.reencrypt(old, { ...AT, column: 'email' })).reason).toBe(
      'authentication_failed',
    );
  });

  it('treats any version other than the current one as needing re-encryption', () => {
    // A key file whose `current` was moved back to 1 after version 2 wrote values.
    const both = keyringOf(1, 2);
    const underTwo = new FieldCipher(both).encrypt(SECRET, AT);
    const pinned = new FieldCipher(both.withCurrent(1));
    expect(pinned.needsReencrypt(underTwo)).toBe(true);
    expect(pinned.keyVersionOf(pinned.reencrypt(underTwo, AT)!)).toBe(1);
  });

  it('derives no key when constructed (no trial derivation under a fixed salt)', () => {
    const keyring = keyringOf(1);
    const calls: unknown[][] = [];
    const original = keyring.deriveKey.bind(keyring);
    keyring.deriveKey = (...args: Parameters<Keyring['deriveKey']>) => {
      calls.push(args);
      return original(...args);
    };
    const cipher = new FieldCipher(keyring, 'signing-key-wrap');
    expect(calls).toEqual([]);
    cipher.encrypt(SECRET, AT);
    cipher.encrypt(SECRET, AT);
    // Each value derives its own key from its own random salt.
    const salts = calls.map((c) => (c[2] as Buffer).toString('hex'));
    expect(salts).toHaveLength(2);
    expect(salts[0]).not.toBe(salts[1]);
    expect(salts).not.toContain('00'.repeat(16));
  });
});
