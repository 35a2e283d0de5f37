import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { checkAddress } from './address-policy.ts';
import { OutboundNetworkError, OutboundRefusedError } from './outbound-error.ts';

/**
 * Resolution and pinning. A host name is resolved ONCE per connection, every address it resolves to
 * is checked against the address policy, and the connection is then handed a `lookup` function that
 * returns exactly those checked addresses (`pinnedLookup`). Node's http/https `request` uses that
 * function instead of asking DNS again, so a name that resolves to a public address for the check
 * and to 127.0.0.1 a moment later (DNS rebinding) cannot steer the connection. TLS still verifies
 * the certificate against the host name, not the address.
 */

/** Resolves a host name to every address (tests inject one that returns private addresses). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

function hasCode(err: unknown, codes: string[]): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && codes.includes(code)) return true;
  }
  return false;
}

/**
 * The addresses `hostname` may be connected to: an IP literal is checked as it is, a name is resolved
 * and refused when ANY of its addresses is refused (a name mixing public and private addresses is
 * not a public name).
 */
export async function resolveChecked(
  hostname: string,
  options: { resolver?: Resolver; allowLoopback?: boolean },
): Promise<LookupAddress[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  let addresses: LookupAddress[];
  const literal = isIP(host);
  if (literal) addresses = [{ address: host, family: literal }];
  else {
    try {
      addresses = await (options.resolver ?? systemResolver)(host);
    } catch (err) {
      if (hasCode(err, ['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']))
        throw new OutboundNetworkError(`${host} does not resolve (no such domain)`, 'unknown_host', {
          cause: err,
        });
      throw new OutboundNetworkError(`cannot resolve ${host}: ${(err as Error).message}`, 'network', {
        cause: err,
      });
    }
    if (addresses.length === 0)
      throw new OutboundNetworkError(`${host} does not resolve (no addresses)`, 'unknown_host');
  }
  for (const a of addresses) {
    const verdict = checkAddress(a.address, { allowLoopback: options.allowLoopback });
    if (!verdict.allowed)
      throw new OutboundRefusedError(
        `${host} ${literal ? 'is' : 'resolves to'} ${a.address} (${verdict.reason}); Sluice does not send requests to internal addresses`,
        'address',
      );
  }
  return addresses;
}

/** A `lookup` for net/http/https that answers only with the checked addresses of one host. */
export function pinnedLookup(hostname: string, addresses: readonly LookupAddress[]): LookupFunction {
  const host = hostname.replace(/^\[|\]$/g, '');
  return (name, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
    const list = addresses.filter((a) => wanted === undefined || a.family === wanted);
    if (name !== host || list.length === 0) {
      const err = Object.assign(new Error(`no checked address for ${name}`), { code: 'ENOTFOUND' });
      callback(err, '', 4);
      return;
    }
    if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, list);
    else callback(null, list[0]!.address, list[0]!.family);
  };
}
