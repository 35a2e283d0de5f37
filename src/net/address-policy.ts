import { BlockList, isIP } from 'node:net';

/**
 * Which IP addresses an outbound request may connect to. Everything that is not a plain public
 * unicast address is refused: private (RFC 1918), loopback, link-local, CGNAT (100.64/10), multicast,
 * reserved and documentation ranges, unique-local IPv6, and the cloud metadata endpoints inside them
 * (169.254.169.254, fd00:ec2::254, 100.100.100.200, 192.0.0.192). IPv6 forms that carry an IPv4
 * address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
 * are judged by the IPv4 address they carry; Teredo (2001::/32) is refused outright.
 */
const V4: readonly (readonly [string, number, string])[] = [
  ['0.0.0.0', 8, 'this-network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT (incl. 100.100.100.200 metadata)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (incl. 169.254.169.254 metadata)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments (incl. 192.0.0.192 metadata)'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved (incl. broadcast)'],
];
const V6: readonly (readonly [string, number, string])[] = [
  ['::', 96, 'unspecified, loopback and IPv4-compatible (::/96)'],
  ['64:ff9b:1::', 48, 'local NAT64'],
  ['100::', 64, 'discard'],
  ['2001::', 32, 'Teredo'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique-local (incl. fd00:ec2::254 metadata)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** One BlockList per range, so a refusal can say which range it fell in. */
const RANGES = [
  ...V4.map(([net, prefix, reason]) => ({ family: 'ipv4' as const, net, prefix, reason })),
  ...V6.map(([net, prefix, reason]) => ({ family: 'ipv6' as const, net, prefix, reason })),
].map((r) => {
  const list = new BlockList();
  list.addSubnet(r.net, r.prefix, r.family);
  return { ...r, list };
});

/** The 16 bytes of an IPv6 address (with or without an embedded dotted quad), or undefined. */
export function ipv6Bytes(ip: string): number[] | undefined {
  let s = ip.replace(/%.*$/, '').toLowerCase();
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const b = quad[1]!.split('.').map(Number);
    s = `${s.slice(0, -quad[1]!.length)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail, extra] = s.split('::');
  if (extra !== undefined) return undefined;
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64, 6to4), if any. */
function embeddedIpv4(ip: string): string | undefined {
  const b = ipv6Bytes(ip);
  if (!b) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const quad = (at: number) => b.slice(at, at + 4).join('.');
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return quad(12); // ::ffff:a.b.c.d
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return quad(12);
  if (b[0] === 0x20 && b[1] === 0x02) return quad(2); // 6to4
  return undefined;
}

export interface AddressVerdict {
  allowed: boolean;
  /** Why it is refused ("private", "link-local (incl. 169.254.169.254 metadata)"...). */
  reason?: string;
}

const bare = (ip: string) => ip.replace(/%.*$/, '');

/** True for 127/8 and ::1 (also in their IPv4-mapped form). */
export function isLoopbackAddress(ip: string): boolean {
  const a = bare(ip);
  const family = isIP(a);
  if (family === 4) return a.startsWith('127.');
  if (family !== 6) return false;
  const v4 = embeddedIpv4(a);
  if (v4 !== undefined) return v4.startsWith('127.');
  return ipv6Bytes(a)?.every((x, i) => x === (i === 15 ? 1 : 0)) ?? false;
}

/**
 * May an outbound request connect to `ip`? `allowLoopback` admits 127/8 and ::1 only (the sandbox's
 * local fakes); every other internal range stays refused.
 */
export function checkAddress(ip: string, options: { allowLoopback?: boolean } = {}): AddressVerdict {
  const a = bare(ip);
  const family = isIP(a);
  if (family === 0) return { allowed: false, reason: 'not an IP address' };
  if (options.allowLoopback && isLoopbackAddress(a)) return { allowed: true };
  if (family === 6) {
    const v4 = embeddedIpv4(a);
    if (v4 !== undefined) {
      const inner = checkAddress(v4, options);
      return inner.allowed ? inner : { allowed: false, reason: `${inner.reason}, carried by ${a}` };
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const hit = RANGES.find((r) => r.family === type && r.list.check(a, type));
  return hit ? { allowed: false, reason: hit.reason } : { allowed: true };
}

/** True when a request to `ip` would be refused without the loopback opt-in. */
export function isPrivateAddress(ip: string): boolean {
  return !checkAddress(ip).allowed;
}
