import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDevCertificate, devCertSerialHex } from '../../src/crypto/dev-certificate.js';

describe('dev certificate serial numbers', () => {
  it('are positive, minimal DER and keep the other random bits, for every first octet', () => {
    for (let first = 0; first < 256; first++) {
      for (const second of [0x00, 0x7f, 0x80, 0xff]) {
        const random = Buffer.alloc(16, 0xa5);
        random[0] = first;
        random[1] = second;
        const hex = devCertSerialHex(random);
        const bytes = Buffer.from(hex, 'hex');
        expect(bytes.length).toBe(16);
        // Positive (top bit clear) and no padding octet (first octet never zero).
        expect(bytes[0]).toBeGreaterThanOrEqual(0x40);
        expect(bytes[0]).toBeLessThanOrEqual(0x7f);
        expect(bytes[0]! & 0x3f).toBe(first & 0x3f);
        expect(bytes.subarray(1)).toEqual(random.subarray(1));
      }
    }
  });

  it('refuses anything but 16 random bytes', () => {
    expect(() => devCertSerialHex(Buffer.alloc(15))).toThrow(RangeError);
    expect(() => devCertSerialHex(Buffer.alloc(17))).toThrow(RangeError);
  });

  it('makes certificates OpenSSL loads even when the random serial starts with zero octets', () => {
    // 1 in 256 serials did before: forge wrote 00 00 xx…, which OpenSSL refuses as illegal
    // padding, so `bulwark dev-cert` crashed after writing a certificate nothing could load.
    for (const serialBytes of [Buffer.alloc(16), Buffer.alloc(16, 0xff)]) {
      const made = createDevCertificate({ days: 1, serialBytes });
      const cert = new X509Certificate(made.cert);
      expect(cert.serialNumber).toBe(devCertSerialHex(serialBytes).toUpperCase());
      expect(cert.checkHost('localhost')).toBe('localhost');
    }
  });
});
