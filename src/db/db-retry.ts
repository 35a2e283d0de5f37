import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnavailable } from '../errors.ts';

export interface DatabaseRetryOptions {
  /** Give up (rethrow) after this long. Default 60 s. */
  maxMs?: number;
  /** First pause; doubles up to `maxPauseMs`. Default 250 ms. */
  firstPauseMs?: number;
  /** Default 5 s. */
  maxPauseMs?: number;
  /** Stops waiting (rethrows the last error) when aborted. */
  signal?: AbortSignal;
  /** Called with each error that is waited out. */
  onWait?(err: unknown): void;
}

/**
 * Runs `fn`, and again with backoff while it fails because the database is unreachable (restart,
 * failover, terminated connections). Any other error, or an outage longer than `maxMs`, is thrown.
 * Used for the engine's bookkeeping statements (claim, requeue, reschedule) and the gateway's record of
 * a call's outcome (src/gateway/record.ts), which are idempotent or
 * fenced, so running one again after an ambiguous failure is safe.
 */
export async function retryWhileDatabaseDown<T>(
  fn: () => Promise<T>,
  options: DatabaseRetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.maxMs ?? 60_000);
  let pause = options.firstPauseMs ?? 250;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isDatabaseUnavailable(err) || Date.now() + pause > deadline || options.signal?.aborted) throw err;
      options.onWait?.(err);
      // jitter: processes that lost the database together do not come back in lockstep
      await sleep(pause * (0.75 + Math.random() / 2));
      pause = Math.min(options.maxPauseMs ?? 5_000, pause * 2);
    }
  }
}
