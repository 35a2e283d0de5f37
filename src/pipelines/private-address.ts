import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { CriticalError } from '../errors.ts';

/**
 * Refuses URLs that point at private, loopback, link-local or otherwise internal addresses, so a
 * pipeline file cannot make Sluice call the metadata service or a database on the LAN (SSRF).
 * The host name is resolved and every address it resolves to is checked.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  return blocked.check(ip, 'ipv6');
}

/** Throws a CriticalError unless the URL is http(s) and resolves only to public addresses. */
export async function assertPublicUrl(url: string): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CriticalError(`http step: ${JSON.stringify(url)} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new CriticalError(`http step: only http and https URLs are allowed, got ${parsed.protocol}`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch (err) {
      throw new CriticalError(`http step: cannot resolve ${host}`, { cause: err });
    }
  }
  const bad = addresses.find(isPrivateAddress);
  if (bad)
    throw new CriticalError(
      `http step: ${host} resolves to the private address ${bad}; refusing to call it (set allow_private: true on the step to allow it)`,
    );
}
