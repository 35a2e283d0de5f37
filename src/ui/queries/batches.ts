import type { Queryable } from '../../db/db.ts';
import { forecastBatch } from '../../engine/forecast.ts';
import type { PipelineDefinition } from '../../engine/pipeline-types.ts';
import type { ProviderDefinition } from '../../providers/define-provider.ts';
import { LEDGER_FACTS } from './ledger-rollup.ts';

export interface BatchRow {
  id: number;
  pipeline: string;
  status: 'running' | 'done' | 'stopped';
  stopReason: string | null;
  budgetUsd: number | null;
  total: number;
  createdAt: Date;
  finishedAt: Date | null;
  counts: Record<string, number>;
  costUsd: number;
  /** Runs finished in the last 5 minutes: the pace the ETA assumes. */
  recentFinished: number;
}

/** Seconds to finish the open runs at the pace of the last 5 minutes; null when nothing finished lately. */
export function etaSeconds(b: Pick<BatchRow, 'counts' | 'recentFinished' | 'status'>): number | null {
  const open = (b.counts.queued ?? 0) + (b.counts.running ?? 0);
  if (b.status !== 'running' || open === 0 || b.recentFinished === 0) return null;
  return open / (b.recentFinished / 300);
}

/** Batches newest first (keyset on id), with their runs by state and their spend from the ledger rollup. */
export async function listBatches(db: Queryable, o: { before?: number; limit: number }): Promise<BatchRow[]> {
  const r = await db.query<Omit<BatchRow, 'counts' | 'costUsd' | 'recentFinished'>>(
    `SELECT id, pipeline, status, stop_reason AS "stopReason", budget_usd::float8 AS "budgetUsd", total,
            created_at AS "createdAt", finished_at AS "finishedAt"
       FROM batches WHERE id < $1 ORDER BY id DESC LIMIT $2`,
    [o.before ?? Number.MAX_SAFE_INTEGER, o.limit],
  );
  return withFigures(db, r.rows);
}

export async function readBatch(db: Queryable, id: number): Promise<BatchRow | undefined> {
  const r = await db.query<Omit<BatchRow, 'counts' | 'costUsd' | 'recentFinished'>>(
    `SELECT id, pipeline, status, stop_reason AS "stopReason", budget_usd::float8 AS "budgetUsd", total,
            created_at AS "createdAt", finished_at AS "finishedAt"
       FROM batches WHERE id = $1`,
    [id],
  );
  return (await withFigures(db, r.rows))[0];
}

async function withFigures(
  db: Queryable,
  rows: Omit<BatchRow, 'counts' | 'costUsd' | 'recentFinished'>[],
): Promise<BatchRow[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((b) => Number(b.id));
  const counts = await db.query<{ batch_id: string; state: string; n: number }>(
    `SELECT batch_id, state, count(*)::int AS n FROM runs WHERE batch_id = ANY($1::bigint[]) GROUP BY 1, 2`,
    [ids],
  );
  const recent = await db.query<{ batch_id: string; n: number }>(
    `SELECT batch_id, count(*)::int AS n FROM runs
      WHERE finished_at > now() - interval '5 minutes' AND batch_id = ANY($1::bigint[]) GROUP BY 1`,
    [ids],
  );
  const cost = await db.query<{ batch_id: string; cost: number }>(
    `SELECT batch_id, sum(cost_usd)::float8 AS cost FROM ${LEDGER_FACTS} WHERE batch_id = ANY($1::bigint[]) GROUP BY 1`,
    [ids],
  );
  return rows.map((b) => {
    const id = Number(b.id);
    return {
      ...b,
      id,
      counts: Object.fromEntries(
        counts.rows.filter((c) => Number(c.batch_id) === id).map((c) => [c.state, c.n]),
      ),
      costUsd: cost.rows.find((c) => Number(c.batch_id) === id)?.cost ?? 0,
      recentFinished: recent.rows.find((c) => Number(c.batch_id) === id)?.n ?? 0,
    };
  });
}

/** A batch's failed runs by error class, and its spend by provider and operation. */
export async function batchBreakdown(db: Queryable, id: number) {
  const errors = await db.query<{ errorClass: string; n: number; example: string | null }>(
    `SELECT coalesce(error_class, 'unknown') AS "errorClass", count(*)::int AS n, min(error) AS example
       FROM runs WHERE batch_id = $1 AND (state = 'failed' OR (state = 'partial' AND failed_calls > 0))
      GROUP BY 1 ORDER BY 2 DESC`,
    [id],
  );
  const providers = await db.query<{
    provider: string;
    operation: string;
    requests: number;
    hits: number;
    cost: number;
    saved: number;
  }>(
    `SELECT provider, operation, sum(requests)::int AS requests,
            coalesce(sum(rows) FILTER (WHERE cache IN ('hit', 'coalesced')), 0)::int AS hits,
            sum(cost_usd)::float8 AS cost, sum(saved_usd)::float8 AS saved
       FROM ${LEDGER_FACTS} WHERE batch_id = $1 GROUP BY 1, 2 ORDER BY 5 DESC`,
    [id],
  );
  return { errors: errors.rows, providers: providers.rows };
}

export interface BatchState {
  queued: number;
  /** Runs a redrive would take: failed, or partial with failed calls. */
  redrivable: number;
}

export async function batchState(db: Queryable, id: number): Promise<BatchState> {
  const r = await db.query<BatchState>(
    `SELECT count(*) FILTER (WHERE state = 'queued')::int AS queued,
            count(*) FILTER (WHERE state = 'failed' OR (state = 'partial' AND failed_calls > 0))::int AS redrivable
       FROM runs WHERE batch_id = $1`,
    [id],
  );
  return r.rows[0]!;
}

/** What the forecast says of a running batch's open runs (queued or running). */
export interface OpenForecast {
  open: number;
  /** Least time the providers' rate limits allow for the paid calls still to make, in seconds. */
  seconds: number;
  paidCalls: number;
  costUsd: number;
  /** The open runs forecast; when fewer than `open`, the figures are scaled from this sample. */
  sampled: number;
}

/** Open runs forecast at most; a bigger batch is forecast from its first ones and scaled. */
const FORECAST_SAMPLE = 2_000;
/** A forecast is reused this long (the batch page polls every 2 s). */
const FORECAST_TTL_MS = 30_000;
const forecasts = new Map<string, { at: number; f: OpenForecast | undefined }>();

/**
 * The forecast (src/engine/forecast.ts) of what is left of a running batch, the ETA to show before any
 * run has finished in the last 5 minutes: the providers' rate limits make it a lower bound. Cached per
 * batch for 30 s; undefined for a batch that is not running, has nothing open or a pipeline that
 * declares nothing to forecast from.
 */
export async function forecastOpenRuns(
  db: Queryable,
  batch: Pick<BatchRow, 'id' | 'status' | 'counts'>,
  pipeline: () => Promise<PipelineDefinition>,
  providers: (id: string) => ProviderDefinition | undefined,
): Promise<OpenForecast | undefined> {
  const open = (batch.counts.queued ?? 0) + (batch.counts.running ?? 0);
  if (batch.status !== 'running' || open === 0) return undefined;
  const key = `${batch.id}:${open}`;
  const hit = forecasts.get(key);
  if (hit && Date.now() - hit.at < FORECAST_TTL_MS) return hit.f;
  const ids = await db.query<{ account_id: number }>(
    `SELECT account_id FROM runs WHERE batch_id = $1 AND state IN ('queued', 'running') ORDER BY id LIMIT $2`,
    [batch.id, FORECAST_SAMPLE],
  );
  let f: OpenForecast | undefined;
  const sampled = ids.rows.length;
  if (sampled > 0) {
    const fc = await forecastBatch(
      db,
      await pipeline(),
      ids.rows.map((r) => Number(r.account_id)),
      providers,
    );
    const scale = open / sampled;
    if (!fc.note)
      f = {
        open,
        seconds: fc.seconds * scale,
        paidCalls: Math.round(fc.paidCalls * scale),
        costUsd: fc.costUsd * scale,
        sampled,
      };
  }
  for (const [k, v] of forecasts) if (Date.now() - v.at >= FORECAST_TTL_MS) forecasts.delete(k);
  forecasts.set(key, { at: Date.now(), f });
  return f;
}
