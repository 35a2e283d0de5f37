import type { Queryable } from '../db/db.ts';
import { groupPerDb } from '../db/group-commit.ts';
import { prepared } from '../db/prepared.ts';
import { redactSecrets } from '../secrets/redact.ts';
import type { StepOutput } from './pipeline-types.ts';

/**
 * The SQL of runs, batches and memoized steps (migrations/0003_runs.sql), one statement per
 * operation. The queue job is only a pointer; the runs table says what happened.
 */
export type RunState = 'queued' | 'running' | 'enriched' | 'partial' | 'failed';
export const FINAL_STATES: readonly RunState[] = ['enriched', 'partial', 'failed'];

export interface ClaimedRun {
  id: number;
  batchId: number | null;
  pipeline: string;
  accountId: number;
  attempts: number;
  failures: number;
  refresh: boolean;
  batchStatus: string | null;
  budgetUsd: number | null;
  /** Reschedules for throttles since the run last made progress, and for how long (ms), 0 when none. */
  throttles: number;
  throttledMs: number;
  /** Times the run was redriven after finishing (its earlier values are already written). */
  redrives: number;
}

/** Counters of one attempt, added to the run's totals. */
export interface AttemptStats {
  calls: number;
  cacheHits: number;
  costUsd: number;
}

/** A claimed run with everything its attempt needs, read in the claim's own statement. */
export interface LoadedRun extends ClaimedRun {
  /** The account row (as JSON: timestamps are ISO strings), or null when it was deleted. */
  account: Record<string, unknown> | null;
  contacts: Record<string, unknown>[];
  /** Memoized step outputs by step key. */
  memo: Record<string, StepOutput>;
}

/**
 * Takes the run for `jobId` and reads the account, its contacts and the memoized steps, in one round
 * trip (the hot path of every run; PGlite serialises statements, so each one saved is throughput).
 * The newest job to claim a run owns it: a job redelivered after its worker died takes over, and a
 * stale duplicate can no longer finish it (finishRun's fence). Undefined when the run is already final.
 * The claims of runs that start while the previous claim runs share one statement (group commit,
 * src/db/group-commit.ts); two claims of one run go in two statements, in the order they came.
 */
export function claimAndLoadRun(db: Queryable, runId: number, jobId: string): Promise<LoadedRun | undefined> {
  return claims(db).add({ key: String(runId), runId, jobId });
}

interface Claim {
  key: string;
  runId: number;
  jobId: string;
}

const claims = groupPerDb(claimGroup, 256);

const CLAIM = prepared(`WITH x AS (
       SELECT * FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(id, job_id, ord)
     ), claimed AS (
       UPDATE runs r SET state = 'running', attempts = r.attempts + 1, job_id = x.job_id,
              started_at = coalesce(r.started_at, now()), updated_at = now()
         FROM x
        WHERE r.id = x.id AND r.state IN ('queued', 'running')
       RETURNING r.*, x.ord)
     SELECT c.ord, c.id, c.batch_id AS "batchId", c.pipeline, c.account_id AS "accountId", c.attempts, c.failures,
            c.throttles, c.redrives, coalesce(extract(epoch FROM now() - c.throttled_since) * 1000, 0)::float8 AS "throttledMs",
            coalesce(b.refresh, false) AS refresh, b.status AS "batchStatus", b.budget_usd AS "budgetUsd",
            (SELECT to_jsonb(a) FROM accounts a WHERE a.id = c.account_id) AS account,
            (SELECT coalesce(jsonb_agg(to_jsonb(ct) ORDER BY ct.id), '[]'::jsonb)
               FROM contacts ct WHERE ct.account_id = c.account_id) AS contacts,
            (SELECT coalesce(jsonb_object_agg(s.step_key, s.output), '{}'::jsonb)
               FROM run_steps s WHERE s.run_id = c.id) AS memo
       FROM claimed c LEFT JOIN batches b ON b.id = c.batch_id`);

async function claimGroup(db: Queryable, group: Claim[]): Promise<(LoadedRun | undefined)[]> {
  // Run order keeps row-lock order the same in every process.
  const order = group.map((c, i) => [c, i] as const).sort((a, b) => a[0].runId - b[0].runId);
  const r = await db.query<LoadedRun & { ord: number }>(CLAIM, [
    order.map(([c]) => c.runId),
    order.map(([c]) => c.jobId),
  ]);
  const out = new Array<LoadedRun | undefined>(group.length).fill(undefined);
  for (const { ord, ...run } of r.rows) out[order[Number(ord) - 1]![1]] = run;
  return out;
}

/**
 * Moves a running run owned by `jobId` to a final state, adding this attempt's counters. Returns
 * false when another job owns the run now (the caller must then roll back its writes).
 */
export async function finishRun(
  db: Queryable,
  runId: number,
  jobId: string,
  state: RunState,
  stats: AttemptStats,
  error?: { errorClass: string; message: string },
): Promise<boolean> {
  const r = await db.query(
    `UPDATE runs SET state = $3, calls = calls + $4, cache_hits = cache_hits + $5, cost_usd = cost_usd + $6,
            error_class = $7, error = $8,
            errors = CASE WHEN $7::text IS NULL THEN errors ELSE
              (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM (
                 SELECT e FROM jsonb_array_elements(errors || jsonb_build_array(
                   jsonb_build_object('at', now(), 'class', $7::text, 'message', $8::text))) WITH ORDINALITY AS t(e, n)
                 ORDER BY n DESC LIMIT 10) last) END,
            throttles = 0, throttled_since = NULL, finished_at = now(), updated_at = now()
      WHERE id = $1 AND job_id = $2 AND state = 'running'`,
    [
      runId,
      jobId,
      state,
      stats.calls,
      stats.cacheHits,
      stats.costUsd,
      error?.errorClass ?? null,
      error ? redactSecrets(error.message) : null,
    ],
  );
  return r.rowCount > 0;
}

/**
 * Puts a running run back to queued (deferred, throttled, released on shutdown, retrying), adding
 * this attempt's counters and, for failures, the error. `countFailure` counts toward the retry limit;
 * `throttled` counts toward the throttle ceiling (restarted when the attempt made progress).
 */
export async function requeueRun(
  db: Queryable,
  runId: number,
  jobId: string,
  stats: AttemptStats,
  error?: { errorClass: string; message: string; countFailure: boolean; throttled?: boolean },
  progressed = false,
): Promise<number> {
  const r = await db.query<{ failures: number }>(
    `UPDATE runs SET state = 'queued', calls = calls + $3, cache_hits = cache_hits + $4, cost_usd = cost_usd + $5,
            failures = failures + $6,
            throttles = CASE WHEN $9::boolean THEN CASE WHEN $10::boolean THEN 1 ELSE throttles + 1 END
                             WHEN $10::boolean THEN 0 ELSE throttles END,
            throttled_since = CASE WHEN $9::boolean THEN CASE WHEN $10::boolean THEN now() ELSE coalesce(throttled_since, now()) END
                                   WHEN $10::boolean THEN NULL ELSE throttled_since END,
            error_class = coalesce($7, error_class), error = coalesce($8, error),
            errors = CASE WHEN $7::text IS NULL THEN errors ELSE
              (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM (
                 SELECT e FROM jsonb_array_elements(errors || jsonb_build_array(
                   jsonb_build_object('at', now(), 'class', $7::text, 'message', $8::text))) WITH ORDINALITY AS t(e, n)
                 ORDER BY n DESC LIMIT 10) last) END,
            updated_at = now()
      WHERE id = $1 AND job_id = $2 AND state = 'running'
      RETURNING failures`,
    [
      runId,
      jobId,
      stats.calls,
      stats.cacheHits,
      stats.costUsd,
      error?.countFailure ? 1 : 0,
      error?.errorClass ?? null,
      error ? redactSecrets(error.message) : null,
      error?.throttled ?? false,
      progressed,
    ],
  );
  return r.rows[0]?.failures ?? 0;
}

export async function setDlqJob(db: Queryable, runId: number, dlqJobId: string): Promise<void> {
  await db.query('UPDATE runs SET dlq_job_id = $2 WHERE id = $1', [runId, dlqJobId]);
}

/** Stops a batch (budget reached); runs not yet finished stay queued and can be resumed. */
export async function stopBatch(db: Queryable, batchId: number, reason: string): Promise<void> {
  await db.query(
    `UPDATE batches SET status = 'stopped', stop_reason = $2, finished_at = now()
      WHERE id = $1 AND status = 'running'`,
    [batchId, reason],
  );
}
