import { BudgetExceededError } from '../../errors.ts';
import type { LeaderOutcome, Stage } from '../call-context.ts';
import { record } from '../record.ts';

/**
 * Identical calls in flight in this process make one paid request: the first is the leader and runs
 * the rest of the order; the others wait for its answer (ledger row `coalesced`, cost 0). A follower
 * never inherits an error that was the leader's own (its batch's budget, its cancellation): it then
 * makes the call itself, as leader or as follower of the next one.
 */
export const localCoalescing: Stage = async (ctx, next) => {
  const { inflight, clock } = ctx.gw;
  for (;;) {
    const pending = inflight.get(ctx.key);
    if (!pending) break;
    const outcome = await pending;
    if ('error' in outcome) {
      if (outcome.own) continue;
      throw outcome.error;
    }
    const shared = outcome.answer;
    await record(ctx, {
      ledger: {
        attempt: 0,
        cache: 'coalesced',
        status: shared.found ? 'found' : 'not_found',
        httpStatus: null,
        costUsd: 0,
        savedUsd: shared.costUsd,
        latencyMs: clock.now() - ctx.started,
        errorClass: null,
        error: null,
      },
      terminal: false,
      health: 'none',
      durable: false,
    });
    ctx.answer = shared;
    ctx.coalesced = true;
    return;
  }
  let settle: (o: LeaderOutcome) => void = () => {};
  inflight.set(
    ctx.key,
    new Promise<LeaderOutcome>((resolve) => {
      settle = resolve;
    }),
  );
  try {
    await next();
    if (!ctx.answer) throw new Error(`gateway: ${ctx.target.name} ended without an answer`);
    settle({ answer: ctx.answer });
  } catch (error) {
    settle({ error, own: error instanceof BudgetExceededError || ctx.signal?.aborted === true });
    throw error;
  } finally {
    inflight.delete(ctx.key);
  }
};
