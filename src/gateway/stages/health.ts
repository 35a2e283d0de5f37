import { InfrastructureError, QuotaExhaustedError, ThrottledError } from '../../errors.ts';
import { circuitState, claimProbe } from '../../limits/circuit-breaker.ts';
import type { Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/**
 * Provider health, as the preflight read it from `provider_state` on the shared database clock:
 * quota used up → QuotaExhaustedError without a request; circuit open → InfrastructureError with
 * retryAt (the run is deferred, not failed), unless this caller wins the half-open probe; paused by a
 * throttle → sleep when short, else ThrottledError so the run is rescheduled.
 */
export const health: Stage = async (ctx, next) => {
  const { gw } = ctx;
  const pf = ctx.preflight!;
  const id = ctx.account.healthKey;
  if (pf.exhaustedUntilMs !== null && pf.exhaustedUntilMs > pf.nowMs) {
    await refuse(
      ctx,
      new QuotaExhaustedError(
        `${id}: credits or plan quota used up; calls stopped until ${new Date(pf.exhaustedUntilMs).toISOString()}. Top up the plan, then run again`,
      ),
    );
  }
  const state = circuitState(pf.openUntilMs, pf.nowMs);
  if (state !== 'closed') {
    const probing = state === 'half-open' && (await claimProbe(gw.db, id, gw.cooldownMs));
    if (!probing) {
      const retryAt = new Date(Math.max(pf.openUntilMs ?? 0, pf.nowMs + 1_000) + (gw.clock.now() - pf.nowMs));
      await refuse(
        ctx,
        new InfrastructureError(
          `${id} is failing (circuit open after ${pf.failures} consecutive failures); calls deferred until ${retryAt.toISOString()}`,
          { retryAt },
        ),
      );
    }
  }
  if (pf.pausedUntilMs !== null && pf.pausedUntilMs > pf.nowMs) {
    const wait = pf.pausedUntilMs - pf.nowMs;
    if (wait > gw.maxWaitMs) {
      await refuse(
        ctx,
        new ThrottledError(`${id} asked to slow down; next call in ${Math.ceil(wait / 1000)} s`, {
          retryAfterMs: wait,
        }),
      );
    }
    await gw.clock.sleep(wait, ctx.signal);
  }
  return next();
};
