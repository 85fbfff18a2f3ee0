import { isIPv4, isIPv6 } from 'node:net';

/**
 * The rate-limit key of a client address. `ip` is the address Fastify resolved: the socket peer,
 * or with configured trusted proxies the right-most X-Forwarded-For entry that is not a trusted
 * proxy (proxy-addr), so a spoofed header from an untrusted peer changes nothing.
 *
 * IPv6 clients are grouped by /64: one subscriber usually gets a whole /64 and can rotate through
 * its 2^64 addresses at will, so a per-address limit would not limit anything. IPv4-mapped IPv6
 * addresses (::ffff:192.0.2.1) count as the IPv4 address they carry.
 */
export function clientKey(ip: string | null | undefined): string {
  if (!ip) return 'ip:unknown';
  const address = ip.split('%')[0]!;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return `ip:${mapped[1]}`;
  if (isIPv4(address)) return `ip:${address}`;
  if (isIPv6(address)) return `ip6:${ipv6Prefix64(address)}::/64`;
  return 'ip:unknown';
}

/** The first four 16-bit groups of an IPv6 address, expanded and lower-cased. */
function ipv6Prefix64(address: string): string {
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = (part: string | undefined): string[] =>
    part === undefined || part === ''
      ? []
      : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const left = groups(head);
  const right = groups(tail);
  const full =
    tail === undefined
      ? left
      : [
          ...left,
          ...Array<string>(Math.max(8 - left.length - right.length, 0)).fill('0'),
          ...right,
        ];
  return full
    .slice(0, 4)
    .map((g) => g.padStart(4, '0'))
    .join(':');
}
