import { preflight } from '../../cache/preflight.ts';
import { batchScope } from '../../limits/budget.ts';
import type { Stage } from '../call-context.ts';

/**
 * Cache lookup and cross-process coalescing, in one statement per try (src/cache/preflight.ts): a hit
 * answers the call; on a miss this caller either claims the in-flight marker (it is the leader: the
 * rest of the order runs, with the batch's reservation and the call's durable attempt row written in
 * the same statement) or another process is making this exact call, and it polls until that one's
 * cache entry appears or its marker goes (then it claims it). The leader's marker and attempt row
 * are renewed (lease.ts) until the call ends, so a slow call is never taken over while its owner lives.
 */
export const cache: Stage = async (ctx, next) => {
  const { gw, req } = ctx;
  let hitLabel: 'hit' | 'coalesced' = 'hit';
  let freshAfterMs: number | null = null;
  let pollMs = 20;
  for (;;) {
    const pf = await preflight(gw.db, {
      key: ctx.key,
      provider: ctx.target.provider.id,
      operation: ctx.target.operationId,
      refresh: (req.refresh ?? false) && hitLabel === 'hit',
      owner: gw.owner,
      inflightTtlMs: gw.inflightTtlMs,
      claim: !gw.singleProcess,
      runId: req.runId ?? null,
      batchId: req.batchId ?? null,
      hitLabel,
      freshAfterMs,
      batchScope: req.batchId === undefined ? null : batchScope(req.batchId),
      reserveUsd: ctx.priceUsd,
      healthKey: ctx.account.healthKey,
      attempt: { cache: ctx.cacheLabel, leaseMs: gw.inflightTtlMs, durable: gw.singleProcess },
    });
    if (pf.hit) {
      ctx.answer = { ...pf.hit, confidence: pf.hit.confidence ?? undefined, cached: true };
      if (hitLabel === 'coalesced') ctx.coalesced = true;
      return;
    }
    if (pf.leader) {
      ctx.preflight = pf;
      ctx.hold.marker = !gw.singleProcess;
      // The preflight reserved the price in the batch's budget, or refused to (nothing reserved).
      ctx.hold.attemptId = pf.attemptId;
      if (pf.batchLimitUsd !== null && req.batchId !== undefined) {
        ctx.hold.budgetScopes.push(batchScope(req.batchId));
        if (pf.batchReserved) ctx.hold.reservedUsd = ctx.priceUsd;
      }
      // Marker and attempt row are renewed while the call runs: they lapse only if this owner dies.
      const leased = { markerKey: ctx.hold.marker ? ctx.key : null, attemptId: pf.attemptId };
      gw.lease.enter(leased);
      try {
        return await next();
      } finally {
        gw.lease.leave(leased);
      }
    }
    // Another process is making this exact call: wait for its cache entry (or its marker to go).
    if (hitLabel === 'hit') {
      hitLabel = 'coalesced';
      if (req.refresh) freshAfterMs = pf.nowMs - 1_000;
    }
    await gw.clock.sleep(pollMs, ctx.signal);
    pollMs = Math.min(250, pollMs * 2);
  }
};
