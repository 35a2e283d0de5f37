import type { Queryable } from '../db/db.ts';

/**
 * The ledger's figures for one batch, by provider and operation: the ledger layer's read port for the
 * batch figures (engine/batch-figures.ts) and, through them, learning. Nothing outside this layer reads
 * the ledger table to count calls.
 */
export interface LedgerProviderFigure {
  provider: string;
  operation: string;
  /** Calls made (first attempts and answers without a request), refused ones left out. */
  calls: number;
  /** HTTP requests, retries included (attempt ≥ 1). */
  requests: number;
  found: number;
  notFound: number;
  errors: number;
  /** Answered from the cache or coalesced with a call in flight. */
  cacheHits: number;
  costUsd: number;
  /** Requests by latency in ms: {"120": 3}; medians over several batches are taken from these. */
  latencyMs: Record<string, number>;
}

/** Attempts that ended in an error or were refused (budget, circuit), by provider, status and class. */
export interface LedgerCallFailure {
  provider: string;
  operation: string;
  status: string;
  errorClass: string;
  calls: number;
}

export async function ledgerProviderFigures(db: Queryable, batchId: number): Promise<LedgerProviderFigure[]> {
  const r = await db.query<LedgerProviderFigure>(
    `WITH lat AS (
       SELECT provider, operation, jsonb_object_agg(latency_ms::text, n) AS hist
         FROM (SELECT provider, operation, latency_ms, count(*)::int AS n FROM ledger
                WHERE batch_id = $1 AND attempt >= 1 GROUP BY 1, 2, 3) x
        GROUP BY 1, 2),
     agg AS (
       SELECT provider, operation,
              count(*) FILTER (WHERE attempt <= 1 AND status <> 'refused')::int AS calls,
              count(*) FILTER (WHERE attempt >= 1)::int AS requests,
              count(*) FILTER (WHERE status = 'found')::int AS found,
              count(*) FILTER (WHERE status = 'not_found')::int AS "notFound",
              count(*) FILTER (WHERE status = 'error')::int AS errors,
              count(*) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS "cacheHits",
              coalesce(sum(cost_usd), 0)::float8 AS "costUsd"
         FROM ledger WHERE batch_id = $1 GROUP BY provider, operation)
     SELECT agg.*, coalesce(lat.hist, '{}'::jsonb) AS "latencyMs"
       FROM agg LEFT JOIN lat ON lat.provider = agg.provider AND lat.operation = agg.operation
      ORDER BY agg.provider, agg.operation`,
    [batchId],
  );
  return r.rows;
}

export async function ledgerCallFailures(db: Queryable, batchId: number): Promise<LedgerCallFailure[]> {
  const r = await db.query<LedgerCallFailure>(
    `SELECT provider, operation, status, coalesce(error_class, status) AS "errorClass", count(*)::int AS calls
       FROM ledger WHERE batch_id = $1 AND status IN ('error', 'refused')
      GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2`,
    [batchId],
  );
  return r.rows;
}

/** Mean cost of real requests (attempt ≥ 1) that found and that did not find, per operation. */
export interface MeasuredPrice {
  provider: string;
  operation: string;
  hitUsd: number | null;
  missUsd: number | null;
  /** Requests the means are over. */
  n: number;
}

/**
 * What the providers' requests cost when run by a pipeline's runs (the optimizer's list prices): the
 * ledger rows of those providers whose run ran `pipeline`.
 */
export async function measuredPrices(
  db: Queryable,
  pipeline: string,
  providers: readonly string[],
): Promise<MeasuredPrice[]> {
  const r = await db.query<MeasuredPrice>(
    `SELECT l.provider, l.operation,
            avg(l.cost_usd) FILTER (WHERE l.status = 'found')::float8 AS "hitUsd",
            avg(l.cost_usd) FILTER (WHERE l.status = 'not_found')::float8 AS "missUsd",
            count(*)::int AS n
       FROM ledger l JOIN runs r ON r.id = l.run_id
      WHERE r.pipeline = $1 AND l.attempt >= 1 AND l.status IN ('found', 'not_found')
        AND l.provider = ANY($2::text[])
      GROUP BY 1, 2`,
    [pipeline, providers],
  );
  return r.rows;
}

/** percentile_cont over the values a histogram counts ({"value": count}), as Postgres computes it. */
export function histogramPercentile(hist: Record<string, number>, p: number): number | null {
  const values = Object.entries(hist)
    .map(([v, n]) => [Number(v), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = values.reduce((s, [, n]) => s + n, 0);
  if (!total) return null;
  const pos = p * (total - 1);
  const at = (i: number) => {
    let seen = 0;
    for (const [v, n] of values) {
      seen += n;
      if (i < seen) return v;
    }
    return values.at(-1)![0];
  };
  const lo = Math.floor(pos);
  const a = at(lo);
  const b = at(Math.ceil(pos));
  return a + (pos - lo) * (b - a);
}
