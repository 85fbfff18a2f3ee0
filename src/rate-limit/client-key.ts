import { isIPv4, isIPv6 } from 'node:net';

/**
 * The rate-limit key of a client address. `ip` is the address Fastify resolved: the socket peer,
 * or with configured trusted proxies the right-most X-Forwarded-For entry that is not a trusted
 * proxy (proxy-addr), so a spoofed header from an untrusted peer changes nothing.
 *
 * IPv6 clients are grouped by /64: one subscriber usually gets a whole /64 and can rotate through
 * its 2^64 addresses at will, so a per-address limit would not limit anything. IPv4-mapped IPv6
 * addresses (::ffff:192.0.2.1) count as the IPv4 address they carry, and so do addresses of the
 * well-known NAT64 prefix 64:ff9b::/96 (RFC 6052): behind a stateless translator (SIIT-DC,
 * RFC 7755) an IPv6-only server sees every IPv4 client in that one /64, which would give the
 * whole IPv4 internet one budget. A port a proxy appended
 * (`192.0.2.1:51234`, `[2001:db8::1]:51234`) is ignored.
 */
export function clientKey(ip: string | null | undefined): string {
  if (!ip) return 'ip:unknown';
  const address = withoutPort(ip).split('%')[0]!;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return `ip:${mapped[1]}`;
  if (isIPv4(address)) return `ip:${address}`;
  if (isIPv6(address)) {
    const groups = ipv6Groups(address);
    // ::ffff:c000:207 is ::ffff:192.0.2.7 too (RFC 4291 §2.5.5.2): the IPv4 client it carries.
    const mappedV4 = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
    // 64:ff9b::c000:207 is 192.0.2.7 translated (RFC 6052 §2.1, the /96 well-known prefix).
    const nat64 =
      groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
    if (mappedV4 || nat64) {
      const [high = 0, low = 0] = groups.slice(6);
      return `ip:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
    }
    return `ip6:${groups
      .slice(0, 4)
      .map((g) => g.toString(16).padStart(4, '0'))
      .join(':')}::/64`;
  }
  return 'ip:unknown';
}

// `203.0.113.7:51234`, `[2001:db8::1]:51234` or `[2001:db8::1]`: the forms of a proxy that
// appends the client's port to X-Forwarded-For (Azure Application Gateway does). proxy-addr
// passes them on as they are, and each would otherwise be "unknown": one budget for everyone.
const IPV4_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;
const BRACKETED = /^\[([^\]]+)\](?::(\d{1,5}))?$/;

/** The address of `ip` without a port; anything else unchanged (and refused by the caller). */
function withoutPort(ip: string): string {
  const v4 = IPV4_PORT.exec(ip);
  if (v4) return Number(v4[2]) <= 65535 ? v4[1]! : '';
  const v6 = BRACKETED.exec(ip);
  if (v6 && isIPv6(v6[1]!.split('%')[0]!) && (v6[2] === undefined || Number(v6[2]) <= 65535)) {
    return v6[1]!;
  }
  return ip;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad is two of them). */
function ipv6Groups(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const groups = (part: string | undefined): number[] =>
    part === undefined || part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const left = groups(head);
  const right = groups(tail);
  return tail === undefined
    ? left
    : [...left, ...Array<number>(Math.max(8 - left.length - right.length, 0)).fill(0), ...right];
}
