import { describe, expect, it } from 'vitest';
import { clientKey } from '../../src/rate-limit/index.js';

describe('clientKey', () => {
  it('keys IPv4 clients by address', () => {
    expect(clientKey('192.0.2.7')).toBe('ip:192.0.2.7');
    expect(clientKey('192.0.2.8')).not.toBe(clientKey('192.0.2.7'));
  });

  it('treats IPv4-mapped IPv6 as the IPv4 address', () => {
    expect(clientKey('::ffff:192.0.2.7')).toBe('ip:192.0.2.7');
  });

  // The same addresses in hexadecimal (as a proxy may write them in X-Forwarded-For) were keyed
  // by their /64, ::/64: every IPv4 client written so shared one budget.
  it('treats IPv4-mapped IPv6 as the IPv4 address in any notation', () => {
    expect(clientKey('::ffff:c000:207')).toBe('ip:192.0.2.7');
    expect(clientKey('::FFFF:C000:0207')).toBe('ip:192.0.2.7');
    expect(clientKey('0:0:0:0:0:ffff:c000:208')).toBe('ip:192.0.2.8');
    expect(clientKey('[::ffff:c000:207]:443')).toBe('ip:192.0.2.7');
    expect(clientKey('::ffff:0:207')).toBe('ip:0.0.2.7');
    // Not mapped: a zero group where ffff is, or bits set before it.
    expect(clientKey('::c000:207')).toBe('ip6:0000:0000:0000:0000::/64');
    expect(clientKey('::1:ffff:c000:207')).toBe('ip6:0000:0000:0000:0000::/64');
  });

  it('keys an IPv4 client behind the well-known NAT64 prefix by its IPv4 address', () => {
    // RFC 6052 §2.4's example: 192.0.2.33 in 64:ff9b::/96.
    expect(clientKey('64:ff9b::192.0.2.33')).toBe('ip:192.0.2.33');
    expect(clientKey('64:ff9b::c000:221')).toBe('ip:192.0.2.33');
    expect(clientKey('0064:ff9b:0000:0000:0000:0000:c000:0222')).toBe('ip:192.0.2.34');
    expect(clientKey('[64:ff9b::c000:221]:443')).toBe('ip:192.0.2.33');
    // Two IPv4 clients, two budgets (they share a /64).
    expect(clientKey('64:ff9b::198.51.100.1')).not.toBe(clientKey('64:ff9b::198.51.100.2'));
    // Not the /96: bits set in the middle (the local-use 64:ff9b:1::/48 has no fixed layout).
    expect(clientKey('64:ff9b:1::c000:221')).toBe('ip6:0064:ff9b:0001:0000::/64');
    expect(clientKey('64:ff9b::1:c000:221')).toBe('ip6:0064:ff9b:0000:0000::/64');
  });

  it('groups IPv6 clients by /64, whatever the notation', () => {
    const key = clientKey('2001:db8:1:2::1');
    expect(key).toBe('ip6:2001:0db8:0001:0002::/64');
    expect(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(key);
    expect(clientKey('2001:0DB8:0001:0002:0:0:0:abcd')).toBe(key);
    expect(clientKey('fe80::1%eth0')).toBe('ip6:fe80:0000:0000:0000::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(key);
    expect(clientKey('::1')).toBe('ip6:0000:0000:0000:0000::/64');
  });

  it('keys an address with a port (as some proxies append it) by the address', () => {
    expect(clientKey('192.0.2.7:51234')).toBe('ip:192.0.2.7');
    expect(clientKey('[2001:db8:1:2::1]:443')).toBe('ip6:2001:0db8:0001:0002::/64');
    expect(clientKey('[2001:db8:1:2::1]')).toBe('ip6:2001:0db8:0001:0002::/64');
    expect(clientKey('[::ffff:192.0.2.7]:443')).toBe('ip:192.0.2.7');
    expect(clientKey('192.0.2.7:')).toBe('ip:unknown');
    expect(clientKey('192.0.2.7:99999')).toBe('ip:unknown');
    expect(clientKey('[192.0.2.7]:1')).toBe('ip:unknown');
  });

  it('puts anything unreadable in one bucket', () => {
    expect(clientKey(undefined)).toBe('ip:unknown');
    expect(clientKey('')).toBe('ip:unknown');
    expect(clientKey('not-an-ip')).toBe('ip:unknown');
  });
});
