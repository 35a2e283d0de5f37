import { CriticalError, RetryableError } from '../errors.ts';

/**
 * The two ways an outbound request fails, as Sluice error classes the scheduler already understands:
 * - `OutboundRefusedError` (critical): the request was never sent, or its answer was refused: a
 *   scheme other than http(s), credentials in the URL, an address on the refused list (also after a
 *   redirect), too many redirects, a body over the size cap. Retrying cannot help.
 * - `OutboundNetworkError` (retryable): the network failed: `timeout` (the whole exchange took longer
 *   than its cap, slow bodies included), `unknown_host` (the name does not resolve: callers that see a
 *   dead domain as "nothing there" turn this into not-found), `network` (refused, reset, TLS...).
 * Messages name the origin and path only: query strings may hold keys.
 */
export type RefusalReason = 'scheme' | 'credentials' | 'address' | 'redirects' | 'too_large';
export type NetworkFailure = 'timeout' | 'unknown_host' | 'network';

export class OutboundRefusedError extends CriticalError {
  readonly reason: RefusalReason;
  constructor(message: string, reason: RefusalReason, options: ErrorOptions = {}) {
    super(message, options);
    this.reason = reason;
  }
}

export class OutboundNetworkError extends RetryableError {
  readonly reason: NetworkFailure;
  constructor(message: string, reason: NetworkFailure, options: ErrorOptions = {}) {
    super(message, options);
    this.reason = reason;
  }
}

/** `https://host:8080/path` of a URL: what messages may show (no query, no credentials). */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
