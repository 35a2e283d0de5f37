import { z } from 'zod';
import { RetryableError } from '../errors.ts';
import { defineOperation, defineProvider, type HttpResponse } from '../providers/define-provider.ts';
import { DEFAULT_TIMEOUT_MS, defaultMapError } from '../providers/http.ts';
import { assertPublicUrl } from './private-address.ts';

/**
 * The provider behind the `http` step: one generic request, so a Clay-style HTTP column goes through
 * the gateway (cache, limits, ledger) like any other call. Free (the user pays the API directly, if
 * at all), no key; the target URL is absolute.
 *
 * It does its own fetch instead of `ctx.request` for one reason: redirects. Each hop is checked
 * against the private-address guard before it is requested, so a public URL cannot bounce the call
 * to 169.254.169.254 or a LAN host. Non-2xx answers map to Sluice errors like every provider's.
 */
const MAX_REDIRECTS = 5;
const ref = { id: 'http' } as const;

const input = z.object({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
  url: z.string().url(),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
  allow_private: z.boolean().optional(),
  timeout_ms: z.number().int().positive().optional(),
});
export type HttpStepRequest = z.infer<typeof input>;

export interface RequestDeps {
  fetch?: typeof fetch;
  /** Throws when a URL may not be called. Default: the private-address guard (unless allow_private). */
  check?: (url: string) => Promise<void>;
  signal?: AbortSignal;
}

/** Sends the request, following redirects by hand (each hop checked); returns the final response. */
export async function sendHttpStepRequest(
  req: HttpStepRequest,
  deps: RequestDeps = {},
): Promise<HttpResponse> {
  const doFetch = deps.fetch ?? fetch;
  const check = deps.check ?? (req.allow_private ? async () => {} : assertPublicUrl);
  const timeoutMs = req.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.any([
    deps.signal ?? new AbortController().signal,
    AbortSignal.timeout(timeoutMs),
  ]);
  let url = req.url;
  let method: string = req.method;
  let body: string | undefined =
    req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  const headers: Record<string, string> = {
    accept: 'application/json, text/plain;q=0.9, */*;q=0.5',
    ...req.headers,
  };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
    headers['content-type'] = 'application/json';
  for (let hop = 0; ; hop++) {
    await check(url);
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method, headers, body, redirect: 'manual', signal });
      text = await res.text();
    } catch (err) {
      if (deps.signal?.aborted) throw deps.signal.reason ?? err;
      const reason =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new RetryableError(`http: ${method} ${new URL(url).origin} failed: ${reason}`, { cause: err });
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      if (hop >= MAX_REDIRECTS)
        throw new RetryableError(`http: more than ${MAX_REDIRECTS} redirects from ${req.url}`);
      url = new URL(location, url).href;
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    let parsed: unknown = text;
    if (/^\s*[[{]/.test(text)) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON after all: keep the text
      }
    }
    const response: HttpResponse = { status: res.status, headers: res.headers, body: parsed, text };
    if (res.status < 200 || res.status >= 300) throw defaultMapError(ref, response);
    return response;
  }
}

const request = defineOperation({
  description: 'a generic HTTP request (JSON or text response); private addresses refused unless allowed',
  input,
  output: z.object({ status: z.number(), body: z.unknown() }),
  priceUsd: 0,
  cacheTtlMs: 24 * 3600_000,
  notFoundTtlMs: 3600_000,
  maxAttempts: 3,
  async run(ctx, req) {
    const res = await sendHttpStepRequest(req, { signal: ctx.signal });
    return { found: true, output: { status: res.status, body: res.body }, costUsd: 0 };
  },
});

export const httpProvider = defineProvider({
  id: 'http',
  name: 'HTTP (generic, for http steps)',
  baseUrl: '',
  limits: [{ limit: 20, windowMs: 1000, label: '20/s' }],
  concurrency: 8,
  free: true,
  operations: { request },
});
