import type { CallOutcome, CallRequest, Gateway } from './gateway-types.ts';
import type { AttemptStats } from './run-store.ts';

/** Live counters of one process, for the progress bar (calls/s, cost so far, cache hit %). */
export interface CallCounters {
  calls: number;
  cacheHits: number;
  costUsd: number;
}

export function emptyStats(): AttemptStats {
  return { calls: 0, cacheHits: 0, costUsd: 0 };
}

/**
 * The gateway a step sees: fills in the run, batch and --refresh of the run, and counts what the
 * calls did into the step's stats (memoized with it) and the process's counters.
 */
export function runGateway(
  gateway: Gateway,
  run: { id: number; batchId: number | undefined; refresh: boolean },
  stats: () => AttemptStats,
  counters?: CallCounters,
): Gateway {
  return {
    async call(request: CallRequest, signal?: AbortSignal): Promise<CallOutcome> {
      const outcome = await gateway.call(
        {
          ...request,
          runId: run.id,
          ...(run.batchId !== undefined ? { batchId: run.batchId } : {}),
          ...(run.refresh ? { refresh: true } : {}),
        },
        signal,
      );
      const s = stats();
      s.calls += 1;
      if (outcome.cached) s.cacheHits += 1;
      s.costUsd += outcome.costUsd;
      if (counters) {
        counters.calls += 1;
        if (outcome.cached) counters.cacheHits += 1;
        counters.costUsd += outcome.costUsd;
      }
      return outcome;
    },
  };
}
