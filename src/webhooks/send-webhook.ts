import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPrivateAddress } from '../net/address-policy.ts';

/**
 * Which callback URLs Sluice may call. Callback URLs are user input: by default only http(s) URLs whose
 * host resolves to public addresses are accepted, and the connection is pinned to the address that was
 * checked (a second DNS answer cannot point it at the LAN). `allowPrivate` exists for the sandbox and
 * tests, whose receivers listen on loopback.
 */
export interface CallbackPolicy {
  /** Allow loopback and private addresses. Default false; `sluice serve --sandbox` sets it. */
  allowPrivate: boolean;
}

export interface WebhookResponse {
  status: number;
  /** The first 500 characters of the body. */
  body: string;
}

/** Success must come within this (Svix: 15 s). */
const TIMEOUT_MS = 15_000;

/** Why a URL is refused, or undefined when it is acceptable (the syntactic part; DNS is checked on send). */
export function callbackUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a URL`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return `only http and https URLs are allowed, got ${u.protocol}`;
  if (u.username || u.password) return 'credentials in the URL are not allowed';
  return undefined;
}

/** Resolves the host and returns the one address to connect to, refusing private ones unless allowed. */
export async function checkedAddress(
  host: string,
  policy: CallbackPolicy,
): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[|\]$/g, '');
  const all = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await dnsLookup(bare, { all: true });
  if (all.length === 0) throw new Error(`${host} does not resolve`);
  if (!policy.allowPrivate) {
    const bad = all.find((a) => isPrivateAddress(a.address));
    if (bad) throw new Error(`${host} resolves to the private address ${bad.address}; refusing to call it`);
  }
  return all[0]!;
}

/**
 * POSTs one webhook. Never follows redirects (a 3xx is a failure, as Standard Webhooks says), gives up
 * after 15 s, and connects only to the checked address. Rejects when no HTTP answer came.
 */
export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  policy: CallbackPolicy,
): Promise<WebhookResponse> {
  const problem = callbackUrlProblem(url);
  if (problem) throw new Error(problem);
  const u = new URL(url);
  const pinned = await checkedAddress(u.hostname, policy);
  const lookup: LookupFunction = (_host, options, cb) => {
    if ((options as { all?: boolean }).all) cb(null, [pinned] as never);
    else cb(null, pinned.address, pinned.family);
  };
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookResponse>((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        lookup,
        timeout: TIMEOUT_MS,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sluice-webhooks/1',
          ...headers,
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 500) text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.slice(0, 500) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
