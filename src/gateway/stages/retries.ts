import type { Stage } from '../call-context.ts';

/**
 * Thrown by the ledger stage after it recorded a failed attempt that is worth another one: the
 * retries stage sleeps `delayMs` and runs the attempt stages again.
 */
export class RetryAttempt extends Error {
  constructor(readonly delayMs: number) {
    super(`retry in ${delayMs} ms`);
  }
}

/**
 * Runs the attempt stages (ledger, concurrency, limits, HTTP) once per attempt, up to the operation's
 * `maxAttempts` (default 4). Which failures are retried, after how long, is the ledger stage's call,
 * because it records each attempt together with that decision.
 */
export const retries: Stage = async (ctx, next) => {
  const { gw } = ctx;
  ctx.maxAttempts = Math.max(1, ctx.target.op.maxAttempts ?? gw.options.defaultMaxAttempts ?? 4);
  for (ctx.attempt = 1; ; ctx.attempt++) {
    try {
      return await next();
    } catch (err) {
      if (!(err instanceof RetryAttempt)) throw err;
      await gw.clock.sleep(err.delayMs, ctx.signal);
    }
  }
};
