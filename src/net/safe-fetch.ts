import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pinnedLookup, type Resolver, resolveChecked } from './checked-lookup.ts';
import { describeUrl, OutboundNetworkError, OutboundRefusedError } from './outbound-error.ts';
import { decodeText, readBody } from './read-body.ts';

/**
 * The one outbound HTTP edge for every URL that comes from data or from a model (the website
 * fetcher, the http step, webhooks). Safe by construction:
 *
 * - only `http:` and `https:`; URLs carrying `user:password@` are refused;
 * - the host is resolved once, every address is checked (src/net/address-policy.ts: private,
 *   loopback, link-local, CGNAT, multicast, reserved, unique-local, metadata, IPv4 carried in IPv6),
 *   and the connection is pinned to the checked addresses (no DNS rebinding);
 * - redirects are followed by hand (at most `maxRedirects`), each hop resolved and checked again;
 *   on a hop to another origin the caller's headers are dropped (only `accept`, `accept-language`,
 *   `user-agent` and a kept body's `content-type` travel on), so credentials never leave the origin
 *   they were meant for;
 * - one time cap for the whole exchange (redirects and slow bodies included), one size cap for the
 *   decompressed body.
 *
 * Non-2xx answers are returned, not thrown: the caller maps them (e.g. `defaultMapError`). Failures
 * are `OutboundRefusedError` (critical) or `OutboundNetworkError` (retryable), see outbound-error.ts.
 *
 * ```ts
 * import { safeFetch } from '../net/safe-fetch.ts';
 * const res = await safeFetch('https://example.com/hook', {
 *   method: 'POST', headers: { 'content-type': 'application/json', 'webhook-signature': sig },
 *   body: JSON.stringify(event), timeoutMs: 10_000, maxBytes: 64 * 1024, signal,
 * });
 * if (res.status >= 300) ...; res.text();
 * ```
 *
 * Only the sandbox passes `allowLoopback: true` (its fakes listen on 127.0.0.1). It is an option in
 * code, never read from the environment or from a data file.
 */
export interface SafeFetchOptions {
  /** Default `GET`. */
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
  /** Redirects followed before giving up. Default 5 (0: a 3xx is returned as it is). */
  maxRedirects?: number;
  /** Cap on the decompressed body, in bytes. Default 5 MiB. */
  maxBytes?: number;
  /** Cap on the whole exchange (all hops, headers and body), in ms. Default 30 000. */
  timeoutMs?: number;
  /** Cancels the request (the run was cancelled); its reason is rethrown as it is. */
  signal?: AbortSignal;
  /** Admit 127/8 and ::1 (the sandbox's local fakes). Default false; nothing else sets it. */
  allowLoopback?: boolean;
  /** Host-name resolver (tests). Default: the system resolver (`dns.lookup`, all addresses). */
  resolver?: Resolver;
}

/**
 * What a caller may widen, passed down from whoever builds the gateway (`services.outbound`): the
 * sandbox's loopback opt-in, a test's resolver. Production code passes nothing.
 */
export type OutboundPolicy = Pick<SafeFetchOptions, 'allowLoopback' | 'resolver'>;

export interface SafeResponse {
  status: number;
  headers: Headers;
  /** The URL that answered (after redirects). */
  url: string;
  /** Every URL requested before it, in order. */
  redirects: string[];
  /** The address the final connection went to (checked and pinned). */
  address: string;
  body: Buffer;
  /** The body decoded in the charset of its content type. */
  text(): string;
}

export const SAFE_FETCH_DEFAULTS = { maxRedirects: 5, maxBytes: 5 * 1024 * 1024, timeoutMs: 30_000 } as const;

/** Headers that may follow a redirect to another origin. */
const PORTABLE = new Set(['accept', 'accept-language', 'user-agent']);

/** Parses and vets a URL before anything is sent. */
export function parseOutboundUrl(raw: string | URL): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new OutboundRefusedError(`${JSON.stringify(String(raw).slice(0, 200))} is not a URL`, 'scheme', {
      cause: err,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new OutboundRefusedError(`refusing ${url.protocol} URL; only http and https are fetched`, 'scheme');
  if (url.username || url.password)
    throw new OutboundRefusedError(
      `refusing ${describeUrl(url)}: the URL carries credentials (user:password@); send them in a header instead`,
      'credentials',
    );
  return url;
}

export async function safeFetch(raw: string | URL, options: SafeFetchOptions = {}): Promise<SafeResponse> {
  const maxRedirects = options.maxRedirects ?? SAFE_FETCH_DEFAULTS.maxRedirects;
  const maxBytes = options.maxBytes ?? SAFE_FETCH_DEFAULTS.maxBytes;
  const timeoutMs = options.timeoutMs ?? SAFE_FETCH_DEFAULTS.timeoutMs;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let url = parseOutboundUrl(raw);
  const origin = url.origin;
  let method = options.method ?? 'GET';
  let body = options.body;
  let headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate, br' };
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  const redirects: string[] = [];
  const what = () => `${method} ${describeUrl(url)}`;
  try {
    for (;;) {
      const addresses = await resolveChecked(url.hostname, options);
      const res = await send(url, method, headers, body, addresses, signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location && maxRedirects > 0) {
        res.resume();
        if (redirects.length >= maxRedirects)
          throw new OutboundRefusedError(`${what()}: more than ${maxRedirects} redirects`, 'redirects');
        redirects.push(url.href);
        const next = parseOutboundUrl(new URL(location, url));
        if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
          delete headers['content-type'];
        }
        if (next.origin !== origin) {
          const kept: Record<string, string> = {};
          for (const [k, v] of Object.entries(headers))
            if (PORTABLE.has(k) || k === 'accept-encoding' || (k === 'content-type' && body !== undefined))
              kept[k] = v;
          headers = kept;
        }
        url = next;
        continue;
      }
      const buffer = method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, maxBytes, what());
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const item of v) h.append(k, item);
        else if (v !== undefined) h.set(k, v);
      }
      return {
        status,
        headers: h,
        url: url.href,
        redirects,
        address: res.socket?.remoteAddress ?? addresses[0]!.address,
        body: buffer,
        text: () => decodeText(buffer, h.get('content-type')),
      };
    }
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason ?? err;
    if (err instanceof OutboundRefusedError || err instanceof OutboundNetworkError) throw err;
    if (timeout.aborted)
      throw new OutboundNetworkError(`${what()} timed out after ${timeoutMs} ms`, 'timeout', { cause: err });
    const code = (err as { code?: unknown }).code;
    throw new OutboundNetworkError(
      `${what()} failed: ${(err as Error).message}${typeof code === 'string' && !(err as Error).message.includes(code) ? ` (${code})` : ''}`,
      'network',
      { cause: err },
    );
  }
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  addresses: Parameters<typeof pinnedLookup>[1],
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        protocol: url.protocol,
        hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method,
        headers:
          body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: pinnedLookup(hostname, addresses),
        // A fresh connection per request: a pooled socket could belong to an earlier, other check.
        agent: false,
        signal,
      },
      resolve,
    );
    req.on('error', reject);
    req.end(body);
  });
}
