import type { Queryable } from '../db/db.ts';

/** Reading the ledger (`sluice ledger`, the DLQ's "last attempts", run summaries). */
export interface LedgerRow {
  id: number;
  createdAt: string;
  provider: string;
  operation: string;
  runId: number | null;
  batchId: number | null;
  attempt: number;
  cache: string;
  status: string;
  httpStatus: number | null;
  costUsd: number;
  savedUsd: number;
  latencyMs: number;
  errorClass: string | null;
  error: string | null;
}

export interface LedgerFilter {
  runId?: number;
  batchId?: number;
  provider?: string;
  /** Only rows with this status (`unknown`: paid calls whose process died before recording them). */
  status?: string;
  /** Newest rows first, at most this many. Default 50. */
  limit?: number;
}

export async function listLedger(db: Queryable, filter: LedgerFilter = {}): Promise<LedgerRow[]> {
  const r = await db.query<{
    id: number;
    created_at: Date | string;
    provider: string;
    operation: string;
    run_id: number | null;
    batch_id: number | null;
    attempt: number;
    cache: string;
    status: string;
    http_status: number | null;
    cost_usd: number;
    saved_usd: number;
    latency_ms: number;
    error_class: string | null;
    error: string | null;
  }>(
    `SELECT id, created_at, provider, operation, run_id, batch_id, attempt, cache, status, http_status,
            cost_usd, saved_usd, latency_ms, error_class, error
     FROM ledger
     WHERE ($1::bigint IS NULL OR run_id = $1) AND ($2::bigint IS NULL OR batch_id = $2)
       AND ($3::text IS NULL OR provider = $3) AND ($5::text IS NULL OR status = $5)
     ORDER BY id DESC LIMIT $4::int`,
    [
      filter.runId ?? null,
      filter.batchId ?? null,
      filter.provider ?? null,
      filter.limit ?? 50,
      filter.status ?? null,
    ],
  );
  return r.rows.map((x) => ({
    id: x.id,
    createdAt: new Date(x.created_at).toISOString(),
    provider: x.provider,
    operation: x.operation,
    runId: x.run_id,
    batchId: x.batch_id,
    attempt: x.attempt,
    cache: x.cache,
    status: x.status,
    httpStatus: x.http_status,
    costUsd: x.cost_usd,
    savedUsd: x.saved_usd,
    latencyMs: x.latency_ms,
    errorClass: x.error_class,
    error: x.error,
  }));
}

export interface LedgerTotals {
  calls: number;
  /** HTTP requests made (every attempt that reached the provider). */
  requests: number;
  cacheHits: number;
  costUsd: number;
  savedUsd: number;
}

/** Totals of a batch (or everything): for run summaries and the progress bar. */
export async function ledgerTotals(
  db: Queryable,
  filter: { batchId?: number; runId?: number } = {},
): Promise<LedgerTotals> {
  const r = await db.query<{ calls: number; paid: number; hits: number; cost: number; saved: number }>(
    `SELECT count(*) FILTER (WHERE attempt <= 1 AND status <> 'refused')::int AS calls,
            count(*) FILTER (WHERE attempt >= 1)::int AS paid,
            count(*) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS hits,
            coalesce(sum(cost_usd), 0)::float8 AS cost, coalesce(sum(saved_usd), 0)::float8 AS saved
     FROM ledger WHERE ($1::bigint IS NULL OR batch_id = $1) AND ($2::bigint IS NULL OR run_id = $2)`,
    [filter.batchId ?? null, filter.runId ?? null],
  );
  const x = r.rows[0]!;
  return { calls: x.calls, requests: x.paid, cacheHits: x.hits, costUsd: x.cost, savedUsd: x.saved };
}

export interface UnknownAttempts {
  /** Paid calls whose process died before recording them (reaped, src/ledger/reaper.ts). */
  unknown: number;
  /** Their price, counted as spent. */
  unknownUsd: number;
  /** Paid calls in flight right now (attempt rows still open). */
  open: number;
}

/** What `sluice ledger` and `sluice status` say about attempts: in flight, and of unknown outcome. */
export async function attemptSummary(db: Queryable): Promise<UnknownAttempts> {
  const r = await db.query<{ unknown: number; usd: number; open: number }>(
    `SELECT count(*) FILTER (WHERE status = 'unknown')::int AS unknown,
            coalesce(sum(price_usd) FILTER (WHERE status = 'unknown'), 0)::float8 AS usd,
            count(*) FILTER (WHERE status = 'open')::int AS open
     FROM call_attempts`,
  );
  const x = r.rows[0]!;
  return { unknown: x.unknown, unknownUsd: x.usd, open: x.open };
}
