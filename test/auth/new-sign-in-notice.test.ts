import { describe, expect, it } from 'vitest';
import { signInNetwork } from '../../src/auth/new-sign-in-notice.js';

describe('the network of a sign-in', () => {
  it('is the /24 of an IPv4 address, however it is written', () => {
    expect(signInNetwork('198.51.100.7')).toBe('198.51.100.0/24');
    expect(signInNetwork('198.51.100.250')).toBe('198.51.100.0/24');
    expect(signInNetwork('::ffff:198.51.100.7')).toBe('198.51.100.0/24');
    expect(signInNetwork('::ffff:c633:6407')).toBe('198.51.100.0/24');
    expect(signInNetwork('64:ff9b::198.51.100.7')).toBe('198.51.100.0/24');
    expect(signInNetwork('198.51.101.7')).not.toBe(signInNetwork('198.51.100.7'));
  });

  it('is the /48 of an IPv6 address', () => {
    expect(signInNetwork('2001:db8:7:1::1')).toBe('2001:0db8:0007::/48');
    expect(signInNetwork('2001:DB8:7:ffff:1:2:3:4')).toBe('2001:0db8:0007::/48');
    expect(signInNetwork('2001:db8:8::1')).not.toBe(signInNetwork('2001:db8:7::1'));
  });

  it('is unknown for anything that is not an address', () => {
    for (const value of [null, '', 'unknown', '999.1.1.1', 'not-an-ip']) {
      expect(signInNetwork(value)).toBeNull();
    }
  });
});
