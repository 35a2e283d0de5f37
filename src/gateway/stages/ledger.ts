import { evictCache } from '../../cache/cache-maintenance.ts';
import {
  CriticalError,
  InfrastructureError,
  isDatabaseUnavailable,
  QuotaExhaustedError,
  SluiceError,
  ThrottledError,
} from '../../errors.ts';
import { backoffDelay } from '../../limits/backoff.ts';
import type { CallContext, CheckedResult, Stage } from '../call-context.ts';
import { DAY_MS } from '../gateway-options.ts';
import { ledgerError, record } from '../record.ts';
import { RetryAttempt } from './retries.ts';

/**
 * Records each attempt in one statement (src/ledger/record-attempt.ts) together with what it decides:
 * a result → ledger row, cache entry, budget settlement, health reset (terminal); a throttle → pause
 * for everyone, retried when short; a retryable error → counted toward the circuit, retried with
 * backoff unless it was the last attempt or the circuit opened; anything else → terminal.
 */
export const ledger: Stage = async (ctx, next) => {
  let error: unknown;
  ctx.requested = false;
  try {
    await next();
  } catch (err) {
    error = err;
  }
  // Ended by a refusal (already recorded) or before the request (a database error taking a slot or
  // a place in the limiter): release-on-failure cleans up, nothing is recorded.
  if (ctx.hold.settled || !ctx.requested) throw error ?? ctx.signal?.reason;
  // An answer that came back is paid for: recorded and cached even if the call was cancelled since.
  if (error === undefined && ctx.result) return recordResult(ctx, ctx.result);
  // Cancelled while the request was in flight: nothing to record (release-on-failure cleans up).
  if (ctx.signal?.aborted) throw error ?? ctx.signal.reason;
  return recordFailure(ctx, asSluiceError(error, ctx.target.name));
};

/** Records of a request that was made wait a database outage out (src/gateway/record.ts). */
const WAIT = { waitOutOutage: true } as const;

async function recordResult(ctx: CallContext, checked: CheckedResult): Promise<void> {
  const { gw, target } = ctx;
  const pf = ctx.preflight!;
  const ttlMs = checked.found
    ? (target.op.cacheTtlMs ?? gw.options.defaultCacheTtlMs ?? 30 * DAY_MS)
    : (target.op.notFoundTtlMs ?? gw.options.defaultNotFoundTtlMs ?? 7 * DAY_MS);
  await record(
    ctx,
    {
      ledger: {
        attempt: ctx.attempt,
        cache: ctx.cacheLabel,
        status: checked.found ? 'found' : 'not_found',
        httpStatus: ctx.httpStatus,
        costUsd: checked.costUsd,
        latencyMs: ctx.latencyMs,
        errorClass: null,
        error: null,
      },
      cacheWrite: {
        input: ctx.normalized,
        found: checked.found,
        output: checked.output,
        costUsd: checked.costUsd,
        confidence: checked.confidence ?? null,
        ttlMs,
      },
      terminal: true,
      // Only touch provider_state when there is something to close (keeps the hot path lean).
      health: pf.failures > 0 || pf.openUntilMs !== null || ctx.failedBefore ? 'reset' : 'none',
    },
    WAIT,
  );
  if (ttlMs > 0 && ++gw.writesSinceEvict.n >= (gw.options.evictEvery ?? 1_000)) {
    gw.writesSinceEvict.n = 0;
    await evictCache(gw.db, gw.options.cacheMaxEntries ?? 100_000).catch((err: unknown) =>
      gw.options.logger?.warn({ err }, 'cache eviction failed'),
    );
  }
  ctx.answer = { ...checked, cached: false };
}

async function recordFailure(ctx: CallContext, err: SluiceError): Promise<never> {
  const { gw, account } = ctx;
  const last = ctx.attempt >= ctx.maxAttempts;
  if (err instanceof ThrottledError) {
    // No Retry-After (Hunter sends none): pause 1 s, doubling with each throttle of this call.
    const delay = err.retryAfterMs ?? Math.min(gw.maxWaitMs, 1_000 * 2 ** (ctx.attempt - 1));
    const giveUp = last || delay > gw.maxWaitMs;
    const id = account.healthKey;
    gw.pauses.set(id, Math.max(gw.pauses.get(id) ?? 0, gw.clock.now() + delay));
    await record(
      ctx,
      {
        ledger: ledgerError(ctx, ctx.billedUsd, ctx.latencyMs, err),
        terminal: giveUp,
        health: 'pause',
        delayMs: delay,
        limiterKeys: account.windows.map((w) => w.key),
      },
      WAIT,
    );
    gw.options.logger?.warn({ provider: id, delayMs: delay }, `${ctx.target.name} throttled`);
    if (giveUp) throw new ThrottledError(err.message, { retryAfterMs: delay, cause: err });
    throw new RetryAttempt(delay);
  }
  if (err.errorClass === 'retryable') {
    ctx.failedBefore = true;
    const rec = await record(
      ctx,
      {
        ledger: ledgerError(ctx, ctx.billedUsd, ctx.latencyMs, err),
        terminal: last,
        health: 'fail',
      },
      WAIT,
    );
    if (last) throw err;
    if (rec.openUntilMs !== null && rec.openUntilMs > rec.nowMs) {
      await record(ctx, { terminal: true, health: 'none' });
      const retryAt = new Date(rec.openUntilMs + (gw.clock.now() - rec.nowMs));
      throw new InfrastructureError(
        `${account.healthKey} is failing (circuit opened after ${gw.failureThreshold} consecutive failures, last: ${err.message}); calls deferred until ${retryAt.toISOString()}`,
        { retryAt, cause: err },
      );
    }
    throw new RetryAttempt(backoffDelay(ctx.attempt, gw.options.backoff, gw.clock.random));
  }
  await record(
    ctx,
    {
      ledger: ledgerError(ctx, ctx.billedUsd, ctx.latencyMs, err),
      terminal: true,
      health: err instanceof QuotaExhaustedError ? 'exhausted' : 'none',
      delayMs: gw.quotaCooldownMs,
    },
    WAIT,
  );
  throw err;
}

function asSluiceError(err: unknown, name: string): SluiceError {
  if (err instanceof SluiceError) return err;
  // An operation reading Sluice's own database (services.db) while it is down: defer, never critical.
  if (isDatabaseUnavailable(err))
    return new InfrastructureError(`${name}: database unavailable`, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new CriticalError(`${name} failed unexpectedly: ${message}`, { cause: err });
}
