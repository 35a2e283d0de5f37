import type { Db, Queryable } from '../db/db.ts';
import { batchProgress, createBatch } from '../engine/batch.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';

/**
 * Jobs: one asynchronous request (POST /v1/jobs, POST /api/enrich-course, a trigger rule) = one batch of
 * runs, plus what to report when it is over (job-watcher.ts). The batch does the work; the job is its
 * handle for the caller and the place its result and webhook come from.
 */
export type JobKind = 'pipeline' | 'enrich-course' | 'rule';
export type JobState = 'processing' | 'completed' | 'failed';

export interface StartJobOptions {
  kind: JobKind;
  pipeline: string;
  /** The accounts to run: ids (inline records already upserted) and/or a --where filter. */
  selection: { ids?: number[]; where?: string; limit?: number };
  budgetUsd?: number;
  request?: unknown;
  endpointId?: number;
  rule?: string;
  apiKeyId?: number;
}

export interface JobView {
  id: string;
  kind: JobKind;
  state: JobState;
  pipeline: string;
  batchId: number | null;
  rule: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  progress: {
    total: number;
    queued: number;
    running: number;
    enriched: number;
    partial: number;
    failed: number;
  };
  cost: { usd: number; calls: number; cacheHits: number };
  errors: { runId: number; accountId: number; errorClass: string | null; error: string | null }[];
  result: unknown;
}

/**
 * Creates the job and its batch (runs queued at once). The job row is written first so that a crash
 * before the batch exists leaves a visible job without a batch (failed by the watcher), never a batch
 * nobody reports on.
 */
export async function startJob(
  db: Db,
  queue: QueueDriver,
  o: StartJobOptions,
): Promise<{ id: string; batchId: number; total: number }> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO jobs (kind, pipeline, request, endpoint_id, rule, api_key_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [
      o.kind,
      o.pipeline,
      JSON.stringify(o.request ?? {}),
      o.endpointId ?? null,
      o.rule ?? null,
      o.apiKeyId ?? null,
    ],
  );
  const id = r.rows[0]!.id;
  const batch = await createBatch(db, queue, {
    pipeline: o.pipeline,
    selection: o.selection,
    ...(o.budgetUsd !== undefined ? { budgetUsd: o.budgetUsd } : {}),
  });
  await db.query('UPDATE jobs SET batch_id = $2 WHERE id = $1', [id, batch.id]);
  return { id, batchId: batch.id, total: batch.total };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function getJob(db: Queryable, id: string): Promise<JobView | undefined> {
  if (!UUID.test(id)) return undefined;
  const r = await db.query<{
    id: string;
    kind: JobKind;
    state: JobState;
    pipeline: string;
    batch_id: number | null;
    rule: string | null;
    created_at: Date;
    finished_at: Date | null;
    result: unknown;
  }>(
    'SELECT id, kind, state, pipeline, batch_id, rule, created_at, finished_at, result FROM jobs WHERE id = $1',
    [id],
  );
  const job = r.rows[0];
  if (!job) return undefined;
  const empty = {
    total: 0,
    queued: 0,
    running: 0,
    enriched: 0,
    partial: 0,
    failed: 0,
    calls: 0,
    cacheHits: 0,
    costUsd: 0,
  };
  const p = job.batch_id !== null ? await batchProgress(db, job.batch_id) : empty;
  const errors = job.batch_id
    ? (
        await db.query<JobView['errors'][number]>(
          `SELECT id AS "runId", account_id AS "accountId", error_class AS "errorClass", error
             FROM runs WHERE batch_id = $1 AND error IS NOT NULL ORDER BY id LIMIT 100`,
          [job.batch_id],
        )
      ).rows
    : [];
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    pipeline: job.pipeline,
    batchId: job.batch_id,
    rule: job.rule,
    createdAt: job.created_at,
    finishedAt: job.finished_at,
    progress: {
      total: p.total,
      queued: p.queued,
      running: p.running,
      enriched: p.enriched,
      partial: p.partial,
      failed: p.failed,
    },
    cost: { usd: p.costUsd, calls: p.calls, cacheHits: p.cacheHits },
    errors,
    result: job.result,
  };
}
