/**
 * The few error classes Sluice uses. Each means something to the scheduler or the CLI:
 *
 * - `RetryableError`: a transient failure (network, timeout, 5xx). Retry with backoff.
 * - `ThrottledError`: the provider said "slow down" (Hunter 403, Apollo 429, Jina 429…). Retry after
 *   `retryAfterMs`, and push that provider's limiter back for every process.
 * - `NotFoundError`: the provider answered, and has nothing. Not a failure: the step yields null.
 * - `QuotaExhaustedError`: credits or plan quota used up (Hunter 429). Do not retry; stop using the provider.
 * - `CriticalError`: the input or the answer is wrong in a way retrying cannot fix (bad params, auth,
 *   malformed body, a required step failed). The run fails into the dead-letter queue.
 * - `InfrastructureError`: Sluice cannot work right now (circuit open, database unreachable). Defer and
 *   resume the run later; never fail it.
 * - `BudgetExceededError`: a call would exceed a budget; the batch stops cleanly.
 * - `ConfigError`: bad configuration or CLI usage; names the option, where it came from and what to do.
 *
 * User-facing messages say what happened, to what, and what to do next. Always set `cause`.
 */
export type ErrorClass =
  | 'retryable'
  | 'throttled'
  | 'not_found'
  | 'quota_exhausted'
  | 'critical'
  | 'infrastructure'
  | 'budget'
  | 'config';

export abstract class SluiceError extends Error {
  abstract readonly errorClass: ErrorClass;
  override get name(): string {
    return this.constructor.name;
  }
}

export class RetryableError extends SluiceError {
  readonly errorClass = 'retryable' as const;
}

export class ThrottledError extends SluiceError {
  readonly errorClass = 'throttled' as const;
  /** How long the provider asked us to wait, when it said (Retry-After, reset headers, body). */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class NotFoundError extends SluiceError {
  readonly errorClass = 'not_found' as const;
}

export class QuotaExhaustedError extends SluiceError {
  readonly errorClass = 'quota_exhausted' as const;
}

export class CriticalError extends SluiceError {
  readonly errorClass = 'critical' as const;
}

export class InfrastructureError extends SluiceError {
  readonly errorClass = 'infrastructure' as const;
  /** When it is worth trying again, if known (e.g. circuit cool-down end). */
  readonly retryAt: Date | undefined;
  constructor(message: string, options: ErrorOptions & { retryAt?: Date } = {}) {
    super(message, options);
    this.retryAt = options.retryAt;
  }
}

export class BudgetExceededError extends SluiceError {
  readonly errorClass = 'budget' as const;
}

/** Bad configuration, input file or CLI usage. `exitCode` 2 = usage error, 1 = failure. */
export class ConfigError extends SluiceError {
  readonly errorClass = 'config' as const;
  readonly exitCode: 1 | 2;
  constructor(message: string, options: ErrorOptions & { exitCode?: 1 | 2 } = {}) {
    super(message, options);
    this.exitCode = options.exitCode ?? 1;
  }
}

export function errorClassOf(err: unknown): ErrorClass {
  return err instanceof SluiceError ? err.errorClass : 'critical';
}
