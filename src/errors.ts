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
 *   resume the run later; never fail it, never memoize it. A raw database error that means "the
 *   database went away" (isDatabaseUnavailable) counts as one wherever it surfaces (errorClassOf).
 * - `BudgetExceededError`: a call would exceed a budget; the batch stops cleanly.
 * - `ConfigError`: bad configuration or CLI usage; names the option, where it came from and what to do.
 *
 * A run can also end with a class no error carries, a person's decision: `cancelled`, `discarded`
 * (DECIDED_ERROR_CLASSES below).
 *
 * User-facing messages say what happened, to what, and what to do next. Always set `cause`.
 */
import { redactSecrets } from './secrets/redact.ts';

export type ErrorClass =
  | 'retryable'
  | 'throttled'
  | 'not_found'
  | 'quota_exhausted'
  | 'critical'
  | 'infrastructure'
  | 'budget'
  | 'config';

/**
 * Error classes a run ends with by a person's decision, not by a thrown error: `cancelled` (queued runs
 * cancelled from the dashboard's runs explorer) and `discarded` (dead letters discarded from the
 * dashboard). Such runs are `failed` but are no dead letters: `sluice dlq list`, the dead-letters page and
 * "redrive all" (`--all`, a batch's `--retry-failed`) leave them out; a redrive naming them by id still
 * runs them.
 */
export const DECIDED_ERROR_CLASSES = ['cancelled', 'discarded'] as const;
export type DecidedErrorClass = (typeof DECIDED_ERROR_CLASSES)[number];
export const CANCELLED: DecidedErrorClass = 'cancelled';
export const DISCARDED: DecidedErrorClass = 'discarded';
/** Every class a run's `error_class` can hold. */
export type RunErrorClass = ErrorClass | DecidedErrorClass;
/** SQL: a run `r` whose error class is not a person's decision. */
export const NOT_DECIDED_SQL = `r.error_class IS DISTINCT FROM 'cancelled' AND r.error_class IS DISTINCT FROM 'discarded'`;

export abstract class SluiceError extends Error {
  abstract readonly errorClass: ErrorClass;
  /**
   * What the provider billed for the response this error is about (an LLM answer that broke its
   * schema): the ledger records it and budgets count it as spent. Undefined: nothing billed.
   */
  readonly billedUsd: number | undefined;
  constructor(message?: string, options: ErrorOptions & { billedUsd?: number } = {}) {
    // Scrubbed at birth: a message is printed, logged and stored (runs, ledger, dead letters).
    super(message === undefined ? undefined : redactSecrets(message), options);
    this.billedUsd = options.billedUsd;
  }
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
  constructor(message: string, options: ErrorOptions & { retryAfterMs?: number; billedUsd?: number } = {}) {
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

/**
 * SQLSTATEs meaning "the database cannot answer right now": connection exceptions (class 08), admin
 * shutdown / crash shutdown / cannot connect now (57P01–57P03), too many connections (53300), and
 * serialization failure / deadlock (40001, 40P01; retried in place by the Postgres adapter first).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300|40001|40P01)$/;
/** Socket-level failures of a database connection (node's error codes). */
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** What node-postgres says, without a code, when a connection goes away under it. */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection terminated|terminating connection|Client has encountered a connection error|Connection ended|timeout exceeded when trying to connect|the database system is (shutting down|starting up|in recovery mode)|server closed the connection|Client was closed and is not queryable|Cannot use a pool after calling end/;

/**
 * True when `err` (or its cause chain) says the database is unreachable or went away: an
 * infrastructure failure, never a result of the step that hit it.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== 'object') return false;
    const x = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof x.code === 'string' && (UNAVAILABLE_SQLSTATE.test(x.code) || UNAVAILABLE_ERRNO.has(x.code)))
      return true;
    if (typeof x.message === 'string' && UNAVAILABLE_MESSAGE.test(x.message)) return true;
    // AggregateError (node's dual-stack connect): any of its errors
    if (Array.isArray(x.errors) && x.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
    if (e instanceof SluiceError) return false;
    e = x.cause;
  }
  return false;
}

/**
 * The class of any error. A database that went away is `infrastructure` (defer, never a result);
 * anything else that is not a SluiceError is a bug or an unexpected answer: `critical`.
 */
export function errorClassOf(err: unknown): ErrorClass {
  if (err instanceof SluiceError) return err.errorClass;
  return isDatabaseUnavailable(err) ? 'infrastructure' : 'critical';
}

/** `err` as a SluiceError: database outages become InfrastructureError, anything else is kept as is. */
export function asInfrastructure(err: unknown): unknown {
  if (err instanceof SluiceError || !isDatabaseUnavailable(err)) return err;
  return new InfrastructureError(`database unavailable: ${(err as Error).message}`, { cause: err });
}

/**
 * Does `err` end this attempt at a call for good? Critical and quota errors do, and retryable ones on
 * the run's last attempt: the field stays unfilled with the reason recorded (step status `failed`).
 * Everything else (infrastructure, throttles, budget, retryable before the last attempt) goes back up,
 * so the run is deferred, rescheduled or retried and nothing is recorded as a result.
 */
export function isCallFailure(err: unknown, finalAttempt: boolean): boolean {
  const c = errorClassOf(err);
  return c === 'critical' || c === 'quota_exhausted' || (c === 'retryable' && finalAttempt);
}
