import type { Db, Queryable } from '../../db/db.ts';
import { batchPositions } from '../../engine/batch-figures.ts';
import { LEDGER_FACTS } from './ledger-rollup.ts';

export interface OperationStats {
  provider: string;
  operation: string;
  requests: number;
  found: number;
  notFound: number;
  errors: number;
  refused: number;
  throttles: number;
  cacheHits: number;
  costUsd: number;
  savedUsd: number;
  errorsByClass: Record<string, number>;
}

export interface ProviderHealth {
  provider: string;
  /** Over the latest LATENCY_SAMPLE requests that reached the provider. */
  p50Ms: number | null;
  p95Ms: number | null;
  sample: number;
  failures: number;
  openUntil: Date | null;
  pausedUntil: Date | null;
  exhaustedUntil: Date | null;
  lastError: string | null;
  capUsd: number | null;
  capSpentUsd: number | null;
}

export const LATENCY_SAMPLE = 5000;

/** Per provider and operation, from the ledger rollup: hit rate, errors by class, cost, savings. */
export async function operationStats(db: Queryable): Promise<OperationStats[]> {
  const r = await db.query<{
    provider: string;
    operation: string;
    status: string;
    cache: string;
    error_class: string;
    rows: number;
    requests: number;
    throttles: number;
    cost: number;
    saved: number;
  }>(
    `SELECT provider, operation, status, cache, error_class, sum(rows)::int AS rows, sum(requests)::int AS requests,
            sum(throttles)::int AS throttles, sum(cost_usd)::float8 AS cost, sum(saved_usd)::float8 AS saved
       FROM ${LEDGER_FACTS} GROUP BY 1, 2, 3, 4, 5`,
  );
  const out = new Map<string, OperationStats>();
  for (const x of r.rows) {
    const k = `${x.provider}\u0000${x.operation}`;
    let s = out.get(k);
    if (!s) {
      s = {
        provider: x.provider,
        operation: x.operation,
        requests: 0,
        found: 0,
        notFound: 0,
        errors: 0,
        refused: 0,
        throttles: 0,
        cacheHits: 0,
        costUsd: 0,
        savedUsd: 0,
        errorsByClass: {},
      };
      out.set(k, s);
    }
    s.requests += x.requests;
    s.throttles += x.throttles;
    s.costUsd += x.cost;
    s.savedUsd += x.saved;
    if (x.cache === 'hit' || x.cache === 'coalesced') s.cacheHits += x.rows;
    // outcomes of calls, not of every retry: a retried attempt that failed is counted in errors by class
    if (x.status === 'found') s.found += x.rows;
    else if (x.status === 'not_found') s.notFound += x.rows;
    else if (x.status === 'refused') s.refused += x.rows;
    else if (x.status === 'error') {
      s.errors += x.rows;
      const cls = x.error_class || 'unknown';
      s.errorsByClass[cls] = (s.errorsByClass[cls] ?? 0) + x.rows;
    }
  }
  return [...out.values()].sort(
    (a, b) => a.provider.localeCompare(b.provider) || a.operation.localeCompare(b.operation),
  );
}

/** Latency percentiles of recent requests (an index range per provider), breaker state, today's cap. */
export async function providerHealth(db: Queryable, providers: string[]): Promise<ProviderHealth[]> {
  const out: ProviderHealth[] = [];
  const stateQuery = db.query<{
    provider: string;
    failures: number;
    open_until: Date | null;
    paused_until: Date | null;
    exhausted_until: Date | null;
    last_error: string | null;
  }>('SELECT provider, failures, open_until, paused_until, exhausted_until, last_error FROM provider_state');
  const capsQuery = db.query<{ scope: string; limit: number; spent: number }>(
    `SELECT scope, limit_usd::float8 AS limit, spent_usd::float8 AS spent FROM budgets
      WHERE scope LIKE 'provider:%:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  );
  // independent reads: on server Postgres they run at once (PGlite queues them)
  const [state, caps] = await Promise.all([stateQuery, capsQuery]);
  // every provider's latest sample in one statement (an index range each: ledger_provider_idx)
  const latency = await db.query<{ provider: string; p50: number | null; p95: number | null; n: number }>(
    `SELECT p.provider, x.p50, x.p95, x.n FROM unnest($1::text[]) AS p(provider), LATERAL (
       SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::float8 AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::float8 AS p95, count(*)::int AS n
         FROM (SELECT latency_ms FROM ledger WHERE provider = p.provider AND attempt >= 1
                ORDER BY created_at DESC LIMIT ${LATENCY_SAMPLE}) y) x`,
    [providers],
  );
  for (const provider of providers) {
    const l = { rows: latency.rows.filter((x) => x.provider === provider) };
    const s = state.rows.find((x) => x.provider === provider);
    const cap = caps.rows.find((x) => x.scope.startsWith(`provider:${provider}:`));
    out.push({
      provider,
      p50Ms: l.rows[0]?.p50 ?? null,
      p95Ms: l.rows[0]?.p95 ?? null,
      sample: l.rows[0]?.n ?? 0,
      failures: s?.failures ?? 0,
      openUntil: s?.open_until ?? null,
      pausedUntil: s?.paused_until ?? null,
      exhaustedUntil: s?.exhausted_until ?? null,
      lastError: s?.last_error ?? null,
      capUsd: cap?.limit ?? null,
      capSpentUsd: cap?.spent ?? null,
    });
  }
  return out;
}

/** Waterfall positions of one batch (the engine's batch figures): how often each position wins. */
export async function waterfallPositions(db: Db, batchId: number) {
  return batchPositions(db, batchId);
}
