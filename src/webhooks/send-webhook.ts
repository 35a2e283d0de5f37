import { resolveChecked } from '../net/checked-lookup.ts';
import { OutboundRefusedError } from '../net/outbound-error.ts';
import { type OutboundPolicy, parseOutboundUrl, safeFetch } from '../net/safe-fetch.ts';

/**
 * Which callback URLs Sluice may call. Callback URLs are user input, so they go through the one
 * outbound edge (src/net/safe-fetch.ts): http(s) only, no credentials in the URL, every address the
 * host resolves to checked (private, loopback, link-local, metadata... refused) and the connection
 * pinned to it. `allowLoopback` is the only widening, set in code by `sluice serve --sandbox` and by
 * tests, whose receivers listen on 127.0.0.1; private networks are refused even then.
 */
export type CallbackPolicy = OutboundPolicy;

export interface WebhookResponse {
  status: number;
  /** The first 500 characters of the body. */
  body: string;
}

/**
 * Caps on one attempt: success must come within 15 s (Svix), redirects are not followed (a 3xx is a
 * failure, per Standard Webhooks), and a receiver's answer over 64 KiB is not read (the attempt fails).
 */
export const CALLBACK_LIMITS = { timeoutMs: 15_000, maxBytes: 64 * 1024 } as const;

/** Why a URL is refused, or undefined when it is acceptable (the syntactic part; addresses are checked on send). */
export function callbackUrlProblem(url: string): string | undefined {
  try {
    parseOutboundUrl(url);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks a callback URL when it is given (POST /v1/jobs, /api/enrich-course): syntax and the addresses
 * its host resolves to now. Throws `OutboundRefusedError` (refused) or `OutboundNetworkError` (does not
 * resolve). Each send checks again: a name may resolve elsewhere later.
 */
export async function checkCallbackUrl(url: string, policy: CallbackPolicy): Promise<void> {
  const u = parseOutboundUrl(url);
  await resolveChecked(u.hostname, policy);
}

/**
 * POSTs one webhook through safeFetch with the caps above. Resolves with the status for any HTTP
 * answer; rejects with `OutboundRefusedError` when the URL or its address is refused or the answer is
 * too large (retrying cannot help), `OutboundNetworkError` when no answer came (retried).
 */
export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  policy: CallbackPolicy,
): Promise<WebhookResponse> {
  const res = await safeFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'sluice-webhooks/1', ...headers },
    body,
    maxRedirects: 0,
    maxBytes: CALLBACK_LIMITS.maxBytes,
    timeoutMs: CALLBACK_LIMITS.timeoutMs,
    ...policy,
  });
  return { status: res.status, body: res.text().slice(0, 500) };
}

/** True when an attempt's failure cannot be fixed by waiting (refused address, scheme, oversized answer). */
export function isRefusal(err: unknown): boolean {
  return err instanceof OutboundRefusedError;
}
