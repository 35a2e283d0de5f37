import type { Db, Queryable } from '../db/db.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import { RUNS_DLQ, RUNS_QUEUE, type RunJobData } from './run-executor.ts';

/**
 * The dead-letter queue as users see it (`sluice dlq`): runs that failed for a reason retrying
 * cannot fix, with the reason and the last attempts from the gateway's ledger.
 */
export interface DeadRun {
  runId: number;
  batchId: number | null;
  pipeline: string;
  accountId: number;
  accountName: string | null;
  errorClass: string | null;
  reason: string | null;
  attempts: number;
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

const DEAD_RUN = `SELECT r.id AS "runId", r.batch_id AS "batchId", r.pipeline, r.account_id AS "accountId",
       a.name AS "accountName", r.error_class AS "errorClass", r.error AS reason, r.attempts,
       r.finished_at AS "failedAt"
  FROM runs r LEFT JOIN accounts a ON a.id = r.account_id
 WHERE r.state = 'failed'`;

export async function listDeadRuns(db: Queryable, options: { limit?: number } = {}): Promise<DeadRun[]> {
  const r = await db.query<DeadRun>(`${DEAD_RUN} ORDER BY r.finished_at DESC, r.id DESC LIMIT $1`, [
    options.limit ?? 100,
  ]);
  return r.rows;
}

export async function showDeadRun(
  db: Queryable,
  runId: number,
  options: { attempts?: number } = {},
): Promise<(DeadRun & { errors: unknown[]; ledger: LedgerAttempt[] }) | undefined> {
  const r = await db.query<DeadRun & { errors: unknown[] }>(
    `${DEAD_RUN.replace('r.finished_at AS "failedAt"', 'r.finished_at AS "failedAt", r.errors')} AND r.id = $1`,
    [runId],
  );
  const run = r.rows[0];
  if (!run) return undefined;
  const ledger = await db.query<LedgerAttempt>(
    `SELECT created_at AS at, provider, operation, attempt, cache, status, http_status AS "httpStatus",
            error_class AS "errorClass", error, cost_usd AS "costUsd"
       FROM ledger WHERE run_id = $1 ORDER BY id DESC LIMIT $2`,
    [runId, options.attempts ?? 10],
  );
  return { ...run, ledger: ledger.rows };
}

/**
 * Sends failed runs back to the queue: state queued, failure count reset, memoized steps kept (so
 * what succeeded before is not paid again), the dead-letter job removed. Returns the runs requeued.
 */
export async function retryDeadRuns(db: Db, queue: QueueDriver, runIds: number[] | 'all'): Promise<number[]> {
  const r = await db.query<{ id: number; dlq_job_id: string | null; batch_id: number | null }>(
    `UPDATE runs SET state = 'queued', failures = 0, error = NULL, error_class = NULL, finished_at = NULL,
            updated_at = now()
      WHERE state = 'failed' AND ($1::boolean OR id = ANY($2::bigint[]))
      RETURNING id, dlq_job_id, batch_id`,
    [runIds === 'all', runIds === 'all' ? [] : runIds],
  );
  if (r.rows.length === 0) return [];
  const batches = [...new Set(r.rows.map((row) => row.batch_id).filter((b): b is number => b !== null))];
  // A batch that had finished is running again until these runs settle.
  await db.query(
    `UPDATE batches SET status = 'running', finished_at = NULL WHERE id = ANY($1::bigint[]) AND status = 'done'`,
    [batches],
  );
  await queue.sendMany<RunJobData>(
    RUNS_QUEUE,
    r.rows.map((row) => ({ runId: row.id })),
  );
  await queue.remove(
    RUNS_DLQ,
    r.rows.map((row) => row.dlq_job_id).filter((id): id is string => id !== null),
  );
  return r.rows.map((row) => row.id);
}
