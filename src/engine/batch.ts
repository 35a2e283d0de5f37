import type { Db, Queryable } from '../db/db.ts';
import { setBatchBudget } from '../limits/budget.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import { storeBatchFigures } from './batch-figures.ts';
import { RUNS_QUEUE, type RunJobData } from './run-executor.ts';
import { type AccountSelection, selectAccountsSql } from './selection.ts';

export interface CreateBatchOptions {
  /** Pipeline name or file, resolved by every worker the same way. */
  pipeline: string;
  selection: AccountSelection;
  /** USD the batch may spend; the gateway refuses calls past it and the batch stops. */
  budgetUsd?: number;
  /** Bypass the cache read for every call of the batch. */
  refresh?: boolean;
}

export interface BatchInfo {
  id: number;
  total: number;
}

/** Creates a batch with one queued run per selected account and enqueues their jobs. */
export async function createBatch(
  db: Db,
  queue: QueueDriver,
  options: CreateBatchOptions,
): Promise<BatchInfo> {
  const { id, runIds } = await db.transaction(async (tx) => {
    const batch = await tx.query<{ id: number }>(
      `INSERT INTO batches (pipeline, budget_usd, refresh, selection) VALUES ($1, $2, $3, $4) RETURNING id`,
      [
        options.pipeline,
        options.budgetUsd ?? null,
        options.refresh ?? false,
        JSON.stringify(options.selection),
      ],
    );
    const batchId = batch.rows[0]!.id;
    const select = selectAccountsSql(options.selection, 3);
    const runs = await tx.query<{ id: number }>(
      `INSERT INTO runs (batch_id, pipeline, account_id)
       SELECT $1, $2, a.id FROM (${select.text}) a ORDER BY a.id
       RETURNING id`,
      [batchId, options.pipeline, ...select.params],
    );
    await tx.query('UPDATE batches SET total = $2 WHERE id = $1', [batchId, runs.rowCount]);
    if (options.budgetUsd !== undefined) await setBatchBudget(tx, batchId, options.budgetUsd);
    return { id: batchId, runIds: runs.rows.map((r) => r.id) };
  });
  // After the commit: a crash in between leaves queued runs without jobs, which `resumeBatch` requeues.
  await queue.sendMany<RunJobData>(
    RUNS_QUEUE,
    runIds.map((runId) => ({ runId })),
  );
  return { id, total: runIds.length };
}

/**
 * Continues a stopped or interrupted batch: optionally raises its budget, marks it running and
 * re-enqueues every run that is still queued (a duplicate job for a run is harmless).
 */
export async function resumeBatch(
  db: Db,
  queue: QueueDriver,
  batchId: number,
  options: { budgetUsd?: number } = {},
): Promise<BatchInfo> {
  const batch = await db.query<{ id: number; total: number }>('SELECT id, total FROM batches WHERE id = $1', [
    batchId,
  ]);
  if (!batch.rows[0]) throw new Error(`batch ${batchId} does not exist`);
  if (options.budgetUsd !== undefined) {
    await db.query('UPDATE batches SET budget_usd = $2 WHERE id = $1', [batchId, options.budgetUsd]);
    await setBatchBudget(db, batchId, options.budgetUsd);
  }
  await db.query(
    `UPDATE batches SET status = 'running', stop_reason = NULL, finished_at = NULL WHERE id = $1`,
    [batchId],
  );
  const queued = await db.query<{ id: number }>(
    `SELECT id FROM runs WHERE batch_id = $1 AND state = 'queued' ORDER BY id`,
    [batchId],
  );
  await queue.sendMany<RunJobData>(
    RUNS_QUEUE,
    queued.rows.map((r) => ({ runId: r.id })),
  );
  return { id: batchId, total: batch.rows[0].total };
}

export interface BatchProgress {
  id: number;
  status: 'running' | 'done' | 'stopped';
  stopReason: string | null;
  total: number;
  queued: number;
  running: number;
  enriched: number;
  partial: number;
  failed: number;
  calls: number;
  cacheHits: number;
  costUsd: number;
}

/** Counts of a batch's runs by state, and what its calls did so far. */
export async function batchProgress(db: Queryable, batchId: number): Promise<BatchProgress> {
  const r = await db.query<BatchProgress>(
    `SELECT b.id, b.status, b.stop_reason AS "stopReason", b.total,
            count(*) FILTER (WHERE r.state = 'queued')::int AS queued,
            count(*) FILTER (WHERE r.state = 'running')::int AS running,
            count(*) FILTER (WHERE r.state = 'enriched')::int AS enriched,
            count(*) FILTER (WHERE r.state = 'partial')::int AS partial,
            count(*) FILTER (WHERE r.state = 'failed')::int AS failed,
            coalesce(sum(r.calls), 0)::int AS calls,
            coalesce(sum(r.cache_hits), 0)::int AS "cacheHits",
            coalesce(sum(r.cost_usd), 0)::float8 AS "costUsd"
       FROM batches b LEFT JOIN runs r ON r.batch_id = b.id
      WHERE b.id = $1
      GROUP BY b.id`,
    [batchId],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`batch ${batchId} does not exist`);
  return row;
}

/**
 * Marks a batch done once none of its runs is queued or running, and stores its batch figures when it
 * ends (batch-figures.ts). Returns true when it is over.
 */
export async function settleBatch(db: Db, batchId: number): Promise<boolean> {
  const r = await db.query<{ status: string; open: boolean; ended_now: boolean }>(
    `WITH done AS (
       UPDATE batches SET status = 'done', finished_at = now()
        WHERE id = $1 AND status = 'running'
          AND NOT EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND state IN ('queued', 'running'))
       RETURNING status)
     SELECT coalesce((SELECT status FROM done), b.status) AS status,
            EXISTS (SELECT 1 FROM done) AS ended_now,
            EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND state = 'running') AS open
       FROM batches b WHERE b.id = $1`,
    [batchId],
  );
  const row = r.rows[0];
  // Once, when this call ended it. A failure here is left to the read port, which computes the figures
  // of an ended batch that has none the first time someone asks: the batch is done either way.
  if (row?.ended_now) await storeBatchFigures(db, batchId).catch(() => undefined);
  // A stopped batch is over once nothing of it is still in flight.
  return row ? row.status === 'done' || (row.status === 'stopped' && !row.open) : true;
}

/** A batch's pipeline (name or file, as given to `sluice run`), or null when there is no such batch. */
export async function batchPipeline(db: Queryable, batchId: number): Promise<string | null> {
  const r = await db.query<{ pipeline: string }>('SELECT pipeline FROM batches WHERE id = $1', [batchId]);
  return r.rows[0]?.pipeline ?? null;
}

/** Batches queued at or after `since` (oldest first): id, pipeline and when they were created. */
export async function batchesCreatedSince(
  db: Queryable,
  since: string,
): Promise<{ id: number; pipeline: string; at: string }[]> {
  const r = await db.query<{ id: number; pipeline: string; at: string }>(
    `SELECT id, pipeline, created_at::text AS at FROM batches WHERE created_at >= $1::timestamptz ORDER BY created_at, id`,
    [since],
  );
  return r.rows.map((b) => ({ ...b, id: Number(b.id) }));
}
