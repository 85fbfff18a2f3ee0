import { describe, expect, it } from 'vitest';
import { randomToken, sha256Hex, timingSafeEqualString } from '../../src/crypto/random.js';

describe('randomToken', () => {
  it('returns unpadded base64url of 32 random bytes by default', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  });

  it('honours the byte count', () => {
    expect(Buffer.from(randomToken(48), 'base64url')).toHaveLength(48);
  });

  it('never repeats', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => randomToken(16)));
    expect(tokens.size).toBe(1000);
  });

  it.each([0, 8, 15, 1025, 16.5, Number.NaN])('refuses %s bytes', (bytes) => {
    expect(() => randomToken(bytes)).toThrow(RangeError);
  });
});

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 "abc" vector', () => {
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('hashes the UTF-8 encoding', () => {
    expect(sha256Hex('é')).toBe(sha256Hex(Buffer.from([0xc3, 0xa9]).toString('utf8')));
    expect(sha256Hex('é')).not.toBe(sha256Hex('e\u0301'));
  });
});

describe('timingSafeEqualString', () => {
  it('is true for equal strings, including empty ones', () => {
    expect(timingSafeEqualString('s3cret-token', 's3cret-token')).toBe(true);
    expect(timingSafeEqualString('', '')).toBe(true);
  });

  it('is false for different strings of the same length', () => {
    expect(timingSafeEqualString('s3cret-token', 's3cret-tokeN')).toBe(false);
  });

  it('is false, without throwing, for different lengths', () => {
    expect(timingSafeEqualString('short', 'much longer value')).toBe(false);
    expect(timingSafeEqualString('', 'x')).toBe(false);
  });
});
