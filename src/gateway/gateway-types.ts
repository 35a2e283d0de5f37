/**
 * The contract of the call gateway (src/gateway/create-gateway.ts): the one function every external call goes
 * through. Order: cache → coalescing → budget → rate limits (global, in Postgres) → concurrency cap →
 * HTTP with retries → circuit breaker → ledger.
 */
export interface CallRequest {
  provider: string;
  operation: string;
  /** Validated against the operation's input schema; normalized for the cache key. */
  input: unknown;
  /** For the ledger and budgets. */
  runId?: number;
  batchId?: number;
  /** Bypass the cache read (the fresh result is still written). */
  refresh?: boolean;
}

export interface CallOutcome {
  provider: string;
  operation: string;
  found: boolean;
  output: unknown;
  /** USD charged by this call; 0 for cache hits and coalesced followers. */
  costUsd: number;
  /** Cost the cache saved (the original call's cost) when `cached`. */
  savedUsd: number;
  confidence: number | undefined;
  cached: boolean;
  /** True when another identical in-flight call made the paid request. */
  coalesced: boolean;
  latencyMs: number;
}

/**
 * Errors a call can end with (src/errors.ts): NotFound never (it is `found: false`); ThrottledError when
 * the wait would be longer than a few seconds (the caller reschedules the run); InfrastructureError
 * when the provider's circuit is open; BudgetExceededError; QuotaExhaustedError; CriticalError.
 */
export interface Gateway {
  call(request: CallRequest, signal?: AbortSignal): Promise<CallOutcome>;
}
