import { z } from 'zod';
import { type OutboundPolicy, safeFetch } from '../net/safe-fetch.ts';
import { defineOperation, defineProvider, type HttpResponse } from '../providers/define-provider.ts';
import { DEFAULT_TIMEOUT_MS, defaultMapError } from '../providers/http.ts';
import { redactSecrets } from '../secrets/redact.ts';
import { resolveSecretText, SECRET_NAME } from '../secrets/secret-ref.ts';

/**
 * The provider behind the `http` step: one generic request, so a Clay-style HTTP column goes through
 * the gateway (cache, limits, ledger) like any other call. Free (the user pays the API directly, if
 * at all), no key; the target URL is absolute.
 *
 * The request crosses the outbound edge (src/net/safe-fetch.ts): internal addresses refused, every
 * redirect hop re-checked, headers dropped on a redirect to another origin, size and time capped.
 * Headers are not part of the cache key (the key is method, URL and body), and `{{secret.NAME}}`
 * references (headers, the URL's query string) are resolved here, from the environment, after the key
 * was computed;
 * the answer is scrubbed of any secret it echoes before it is cached.
 */
const ref = { id: 'http' } as const;
const MAX_BYTES = 5 * 1024 * 1024;

const secretRef = z.object({ secret: z.string().regex(SECRET_NAME) }).strict();
const headerValue = z.union([z.string(), z.array(z.union([z.string(), secretRef]))]);

/** The URL's text with each reference as a placeholder (for checks and the host). */
const urlShape = (url: string | readonly (string | { secret: string })[]) =>
  typeof url === 'string' ? url : url.map((p) => (typeof p === 'string' ? p : 'SECRET')).join('');

/** A URL, or one with `{{secret.NAME}}` references in its query string (after a literal "?"). */
const plainUrl = z.string().url();
const urlParts = z.array(z.union([z.string(), secretRef])).min(1);
const urlValue = z.custom<string | (string | z.infer<typeof secretRef>)[]>().superRefine((v, ctx) => {
  const parts = typeof v === 'string' ? undefined : urlParts.safeParse(v);
  if (parts && !parts.success) {
    ctx.addIssue({ code: 'custom', message: 'Invalid URL (text and {secret} references expected)' });
    return;
  }
  if (!plainUrl.safeParse(parts ? urlShape(parts.data) : v).success) {
    ctx.addIssue({ code: 'custom', message: 'Invalid URL' });
    return;
  }
  const first = parts ? parts.data.findIndex((p) => typeof p !== 'string') : -1;
  if (parts && first >= 0 && !parts.data.slice(0, first).join('').includes('?'))
    ctx.addIssue({ code: 'custom', message: 'a secret reference goes in the query string only' });
});

const input = z.object({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
  url: urlValue,
  headers: z.record(z.string(), headerValue).optional(),
  body: z.unknown().optional(),
  timeout_ms: z.number().int().positive().optional(),
});
export type HttpStepRequest = z.infer<typeof input>;

export interface RequestDeps {
  /** Environment the `{{secret.NAME}}` references are read from. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Loopback opt-in and resolver (the sandbox and tests); default: internal addresses refused. */
  outbound?: OutboundPolicy;
  signal?: AbortSignal;
}

/** Sends the request through the outbound edge; returns the final response, non-2xx mapped to errors. */
export async function sendHttpStepRequest(
  req: HttpStepRequest,
  deps: RequestDeps = {},
): Promise<HttpResponse> {
  const body =
    req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.5' };
  for (const [k, v] of Object.entries(req.headers ?? {}))
    headers[k.toLowerCase()] = resolveSecretText(v, deps.env ?? {}, `http step header ${k}`);
  if (body !== undefined && !('content-type' in headers)) headers['content-type'] = 'application/json';
  const url = resolveSecretText(req.url, deps.env ?? {}, 'http step URL');
  const res = await safeFetch(url, {
    method: req.method,
    headers,
    body,
    timeoutMs: req.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    maxBytes: MAX_BYTES,
    ...(deps.signal ? { signal: deps.signal } : {}),
    ...deps.outbound,
  });
  // An API that echoes the key (in an error or a debug field) must not put it in the cache.
  const text = redactSecrets(res.text());
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

const request = defineOperation({
  description: 'a generic HTTP request (JSON or text response); internal addresses are always refused',
  input,
  output: z.object({ status: z.number(), body: z.unknown() }),
  priceUsd: 0,
  cacheTtlMs: 24 * 3600_000,
  notFoundTtlMs: 3600_000,
  maxAttempts: 3,
  // Headers (and the secrets in them) never enter the key or the stored input; a secret in the URL's
  // query string is keyed as its reference, never its value.
  cacheKey: (req) => ({ method: req.method, url: req.url, body: req.body }),
  async run(ctx, req) {
    const res = await sendHttpStepRequest(req, {
      signal: ctx.signal,
      env: ctx.env ?? {},
      ...(ctx.services.outbound ? { outbound: ctx.services.outbound } : {}),
    });
    return { found: true, output: { status: res.status, body: res.body }, costUsd: 0 };
  },
});

export const httpProvider = defineProvider({
  id: 'http',
  name: 'HTTP (generic, for http steps)',
  baseUrl: '',
  // Every host is its own account: its own 20/s (SLUICE_HTTP_LIMITS for all hosts) and its own
  // circuit, so one endpoint failing defers only the http steps calling that host.
  accountOf: (_operation, input) => {
    try {
      return `http:${new URL(urlShape((input as HttpStepRequest).url)).host.toLowerCase()}`;
    } catch {
      return 'http';
    }
  },
  limits: [{ limit: 20, windowMs: 1000, label: '20/s' }],
  concurrency: 8,
  free: true,
  operations: { request },
});
