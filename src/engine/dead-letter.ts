import type { Db, Queryable } from '../db/db.ts';
import { ConfigError, NOT_DECIDED_SQL } from '../errors.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import type { BatchInfo } from './batch.ts';
import type { StepError } from './pipeline-types.ts';
import { RUNS_DLQ, RUNS_QUEUE, type RunJobData } from './run-executor.ts';

/**
 * The dead-letter queue as users see it (`sluice dlq`): runs that failed (a required step failed,
 * retries used up, throttled past the ceiling) and partial runs with failed calls, with the reasons
 * and the last attempts from the gateway's ledger. A redrive runs exactly what failed again.
 */
export interface DeadRun {
  runId: number;
  batchId: number | null;
  pipeline: string;
  accountId: number;
  accountName: string | null;
  /** `failed`, or `partial` with `failedCalls` > 0. */
  state: string;
  errorClass: string | null;
  reason: string | null;
  attempts: number;
  failedCalls: number;
  failedAt: Date | null;
}

export interface LedgerAttempt {
  at: Date;
  provider: string;
  operation: string;
  attempt: number;
  cache: string;
  status: string;
  httpStatus: number | null;
  errorClass: string | null;
  error: string | null;
  costUsd: number;
}

/** Runs a redrive would touch: failed, or partial with failed calls (not merely "nothing found"). */
const REDRIVABLE = `(r.state = 'failed' OR (r.state = 'partial' AND r.failed_calls > 0))`;

const DEAD_RUN = `SELECT r.id AS "runId", r.batch_id AS "batchId", r.pipeline, r.account_id AS "accountId",
       a.name AS "accountName", r.state, r.error_class AS "errorClass", r.error AS reason, r.attempts,
       r.failed_calls AS "failedCalls", r.finished_at AS "failedAt"
  FROM runs r LEFT JOIN accounts a ON a.id = r.account_id
 WHERE ${REDRIVABLE}`;
/** Dead letters: redrivable runs, less those a person cancelled or discarded (src/errors.ts). */
const DEAD_LETTER = `${DEAD_RUN} AND ${NOT_DECIDED_SQL}`;

export async function listDeadRuns(db: Queryable, options: { limit?: number } = {}): Promise<DeadRun[]> {
  const r = await db.query<DeadRun>(`${DEAD_LETTER} ORDER BY r.finished_at DESC, r.id DESC LIMIT $1`, [
    options.limit ?? 100,
  ]);
  return r.rows;
}

export async function showDeadRun(
  db: Queryable,
  runId: number,
  options: { attempts?: number } = {},
): Promise<(DeadRun & { errors: unknown[]; failedSteps: StepError[]; ledger: LedgerAttempt[] }) | undefined> {
  const r = await db.query<DeadRun & { errors: unknown[] }>(
    `${DEAD_RUN.replace('r.finished_at AS "failedAt"', 'r.finished_at AS "failedAt", r.errors')} AND r.id = $1`,
    [runId],
  );
  const run = r.rows[0];
  if (!run) return undefined;
  // Leaf failures only: a foreach parent repeats its children's errors.
  const steps = await db.query<{ step_key: string; errors: StepError[] | null }>(
    `SELECT step_key, output->'data'->'errors' AS errors FROM run_steps
      WHERE run_id = $1 AND status = 'failed' ORDER BY step_key`,
    [runId],
  );
  const failedSteps: StepError[] = [];
  const leaves = steps.rows.filter((s) => s.step_key.includes('/'));
  for (const s of leaves.length > 0 ? leaves : steps.rows) failedSteps.push(...(s.errors ?? []));
  const ledger = await db.query<LedgerAttempt>(
    `SELECT created_at AS at, provider, operation, attempt, cache, status, http_status AS "httpStatus",
            error_class AS "errorClass", error, cost_usd AS "costUsd"
       FROM ledger WHERE run_id = $1 ORDER BY id DESC LIMIT $2`,
    [runId, options.attempts ?? 10],
  );
  return { ...run, failedSteps, ledger: ledger.rows };
}

/** Which runs a redrive takes: these ids, every redrivable run, or those of one batch. */
export type RedriveSelection = number[] | 'all' | { batchId: number };

/**
 * The redrive: sends failed runs, and partial runs with failed calls, back to the queue. Their failed
 * steps (status `failed`, foreach children included) are deleted, so exactly those run again; every
 * memoized success is kept (nothing that succeeded is paid again, and the gateway's cache answers
 * calls already made). `all` and a batch leave out runs a person cancelled or discarded; runs named by
 * id go whatever their class. Failure and throttle counts are reset, the dead-letter job removed, a finished
 * batch reopened. Returns the runs requeued.
 */
export async function retryDeadRuns(db: Db, queue: QueueDriver, which: RedriveSelection): Promise<number[]> {
  const all = which === 'all';
  const batchId = !all && !Array.isArray(which) ? which.batchId : null;
  const ids = Array.isArray(which) ? which : [];
  const rows = await db.transaction(async (tx) => {
    const r = await tx.query<{ id: number; dlq_job_id: string | null; batch_id: number | null }>(
      `UPDATE runs r SET state = 'queued', failures = 0, throttles = 0, throttled_since = NULL, failed_calls = 0,
              error = NULL, error_class = NULL, finished_at = NULL, dlq_job_id = NULL,
              redrives = redrives + 1, updated_at = now()
        WHERE ${REDRIVABLE}
          AND (r.id = ANY($2::bigint[]) OR (($1::boolean OR r.batch_id = $3::bigint) AND ${NOT_DECIDED_SQL}))
        RETURNING r.id, r.dlq_job_id, r.batch_id`,
      [all, ids, batchId],
    );
    if (r.rows.length > 0) {
      await tx.query(`DELETE FROM run_steps WHERE run_id = ANY($1::bigint[]) AND status = 'failed'`, [
        r.rows.map((row) => row.id),
      ]);
    }
    return r.rows;
  });
  if (rows.length === 0) return [];
  const batches = [...new Set(rows.map((row) => row.batch_id).filter((b): b is number => b !== null))];
  // A batch that had finished is running again until these runs settle.
  await db.query(
    `UPDATE batches SET status = 'running', finished_at = NULL WHERE id = ANY($1::bigint[]) AND status = 'done'`,
    [batches],
  );
  await queue.sendMany<RunJobData>(
    RUNS_QUEUE,
    rows.map((row) => ({ runId: row.id })),
  );
  await queue.remove(
    RUNS_DLQ,
    rows.map((row) => row.dlq_job_id).filter((id): id is string => id !== null),
  );
  return rows.map((row) => row.id);
}

/** `sluice run --retry-failed BATCH`: redrives the batch's failed calls; the batch's size and the runs requeued. */
export async function redriveBatch(
  db: Db,
  queue: QueueDriver,
  batchId: number,
): Promise<BatchInfo & { requeued: number }> {
  const batch = await db.query<{ total: number }>('SELECT total FROM batches WHERE id = $1', [batchId]);
  if (!batch.rows[0])
    throw new ConfigError(`batch ${batchId} does not exist (see \`sluice status\`)`, { exitCode: 2 });
  const requeued = await retryDeadRuns(db, queue, { batchId });
  return { id: batchId, total: batch.rows[0].total, requeued: requeued.length };
}
