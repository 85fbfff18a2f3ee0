import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import { Secret } from 'otpauth';
import { describe, expect, it } from 'vitest';
import {
  legacyRecoveryCodeHash,
  matchTotp,
  newRecoveryCodes,
  newTotpSecret,
  RECOVERY_CODE_COUNT,
  recoveryCodeHash,
  sha256Hex,
  totpCode,
  totpStep,
  totpUri,
} from '../../src/crypto/index.js';

// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890". The RFC
// prints 8-digit codes; a 6-digit code is the same truncated value modulo 10^6 (its last six).
const RFC_SECRET = Secret.fromLatin1('12345678901234567890').base32;
const RFC_VECTORS: [seconds: number, eightDigits: string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(RFC_VECTORS)('matches the RFC test vector at T=%i', (seconds, eight) => {
    const code = eight.slice(2);
    expect(totpCode(RFC_SECRET, seconds * 1000)).toBe(code);
    expect(matchTotp(RFC_SECRET, code, seconds * 1000)).toBe(Math.floor(seconds / 30));
  });

  it('accepts one step either side of now, naming the step the code belongs to', () => {
    const now = Date.UTC(2026, 10, 30, 12, 0, 15);
    const step = totpStep(now);
    for (const offset of [-1, 0, 1]) {
      const code = totpCode(RFC_SECRET, now + offset * 30_000);
      expect(matchTotp(RFC_SECRET, code, now)).toBe(step + offset);
    }
    for (const offset of [-3, -2, 2, 3]) {
      const code = totpCode(RFC_SECRET, now + offset * 30_000);
      // Distinct codes can collide (1 in 10^6 per pair); these fixed times do not.
      expect(matchTotp(RFC_SECRET, code, now)).toBeNull();
    }
  });

  it('refuses anything that is not six digits, and another secret’s code', () => {
    const now = 1_700_000_000_000;
    const code = totpCode(RFC_SECRET, now);
    for (const bad of [
      '',
      code.slice(1),
      `${code}0`,
      ` ${code}`,
      `${code}\n`,
      code.replace(/\d/, 'a'),
      '١٢٣٤٥٦',
    ]) {
      expect(matchTotp(RFC_SECRET, bad, now)).toBeNull();
    }
    expect(matchTotp(newTotpSecret(), code, now)).toBeNull();
  });

  it('makes 160-bit base32 secrets, each new', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newTotpSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(Secret.fromBase32(secret).bytes).toHaveLength(20);
    }
  });

  it('writes the otpauth URI authenticator apps read, with the label encoded', () => {
    const uri = new URL(totpUri(RFC_SECRET, 'id.example.com', 'a+b@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/id.example.com:a+b@example.com');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      issuer: 'id.example.com',
      secret: RFC_SECRET,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});

describe('recovery codes', () => {
  it('makes ten distinct codes in groups of four, without look-alike letters', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(RECOVERY_CODE_COUNT);
    for (const code of codes) expect(code).toMatch(/^[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){2}$/);
  });

  it('draws every letter of its alphabet equally: no modulo bias', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      for (const char of newRecoveryCodes().join('').replaceAll('-', '')) {
        counts.set(char, (counts.get(char) ?? 0) + 1);
      }
    }
    expect(counts.size).toBe(31);
    // Taking a random byte modulo 31 would favour the first 256 % 31 = 8 letters of the alphabet
    // (9 chances in 256 against 8): their mean count 12.5 % above the others'. Over 24 000
    // letters the unbiased ratio has a standard deviation of ~1.4 %, so ±6 % is ~4 sd.
    const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
    const mean = (letters: string) =>
      [...letters].reduce((sum, c) => sum + (counts.get(c) ?? 0), 0) / letters.length;
    const ratio = mean(alphabet.slice(0, 8)) / mean(alphabet.slice(8));
    expect(ratio).toBeGreaterThan(0.94);
    expect(ratio).toBeLessThan(1.06);
  });

  it('hashes a code the same whatever its case and separators, and refuses non-codes', () => {
    const [code] = newRecoveryCodes();
    const secret = newTotpSecret();
    const user = randomUUID();
    const hash = recoveryCodeHash(code!, secret, user);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(recoveryCodeHash(code!.toUpperCase(), secret, user)).toBe(hash);
    expect(recoveryCodeHash(code!.replaceAll('-', ' '), secret, user)).toBe(hash);
    expect(recoveryCodeHash(code!.replaceAll('-', ''), secret, user)).toBe(hash);
    expect(legacyRecoveryCodeHash(code!.toUpperCase())).toBe(legacyRecoveryCodeHash(code!));
    for (const bad of [
      '',
      'abcd-efgh-jkm',
      'abcd-efgh-jkmnp',
      'abcd-efgh-jk1n',
      'abcd-efgh-jk0n',
      'abcd_efgh_jkmn',
    ]) {
      expect(recoveryCodeHash(bad, secret, user)).toBeNull();
      expect(legacyRecoveryCodeHash(bad)).toBeNull();
    }
  });

  it('stores a code keyed by its authenticator and user, never as a bare hash to search offline', () => {
    // 59 random bits: a bare SHA-256 of them falls to a GPU search, and an unsalted one to a
    // search of every stored code at once. Keyed, a database copy alone gives nothing to test.
    const code = 'abcd-efgh-jkmn';
    const secret = newTotpSecret();
    const user = randomUUID();
    const hash = recoveryCodeHash(code, secret, user)!;
    expect(hash).not.toBe(sha256Hex('abcdefghjkmn'));
    expect(hash).not.toBe(legacyRecoveryCodeHash(code));
    expect(recoveryCodeHash(code, secret, randomUUID())).not.toBe(hash);
    expect(recoveryCodeHash(code, newTotpSecret(), user)).not.toBe(hash);
    // The legacy form, still accepted for codes issued before: the bare SHA-256.
    expect(legacyRecoveryCodeHash(code)).toBe(sha256Hex('abcdefghjkmn'));
    // A known answer: HMAC-SHA-256 under HKDF-SHA-256(secret bytes, salt user id, info).
    const secretBytes = Buffer.from('12345678901234567890');
    const key = Buffer.from(
      hkdfSync('sha256', secretBytes, 'user-1', 'bulwark/v1/recovery-codes', 32),
    );
    expect(recoveryCodeHash(code, RFC_SECRET, 'user-1')).toBe(
      createHmac('sha256', key).update('abcdefghjkmn').digest('hex'),
    );
  });
});
