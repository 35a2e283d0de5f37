import type { Db, Queryable } from '../../db/db.ts';
import { RUNS_DLQ } from '../../engine/run-executor.ts';
import { DISCARDED, NOT_DECIDED_SQL } from '../../errors.ts';
import type { QueueDriver } from '../../queue/queue-driver.ts';
import { providersFor } from './start-work.ts';

/**
 * The dead letters as the dashboard groups them: runs a redrive would take (failed, or partial with
 * failed calls; the engine's rule in src/engine/dead-letter.ts) by error class, failed step and the
 * provider of the failed call its failed step recorded (a leaf step first, as `sluice dlq show`), each group with what its redrive is expected to cost.
 * Runs discarded here (error class `discarded`) are left out.
 */
const DEAD = `(r.state = 'failed' OR (r.state = 'partial' AND r.failed_calls > 0)) AND ${NOT_DECIDED_SQL}`;

export interface DeadGroup {
  errorClass: string;
  step: string;
  provider: string;
  operation: string;
  runs: number;
  ids: number[];
  example: string | null;
  /** One paid call per run at the operation's price: the redrive re-runs the failed step. */
  forecastUsd: number | null;
}

export async function deadGroups(db: Queryable, sandbox: boolean): Promise<DeadGroup[]> {
  const r = await db.query<Omit<DeadGroup, 'forecastUsd'>>(
    // Each dead run's first failed step (a leaf first) by one DISTINCT ON pass over their failed steps,
    // hash-joined: a lateral lookup per dead run was most of the page's time (bench:ui, 6,000 dead runs).
    `WITH dead AS MATERIALIZED (SELECT r.id, r.error_class, r.error FROM runs r WHERE ${DEAD}),
     fs AS (SELECT DISTINCT ON (s.run_id) s.run_id, s.step_key, s.output -> 'data' -> 'errors' -> 0 AS e
              FROM run_steps s WHERE s.status = 'failed' AND s.run_id IN (SELECT id FROM dead)
             ORDER BY s.run_id, (s.step_key LIKE '%/%') DESC, s.step_key)
     SELECT coalesce(d.error_class, 'unknown') AS "errorClass", coalesce(fs.step_key, '-') AS step,
            coalesce(fs.e ->> 'provider', '-') AS provider, coalesce(fs.e ->> 'operation', '') AS operation,
            count(*)::int AS runs, (array_agg(d.id ORDER BY d.id))[1:1000] AS ids, min(d.error) AS example
       FROM dead d LEFT JOIN fs ON fs.run_id = d.id
      GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC LIMIT 100`,
  );
  const providers = providersFor(sandbox);
  return r.rows.map((g) => {
    const price = g.provider === '-' ? undefined : providers(g.provider)?.operations[g.operation]?.priceUsd;
    return { ...g, ids: g.ids.map(Number), forecastUsd: price === undefined ? null : price * g.runs };
  });
}

/**
 * Takes runs out of the dead letters without running them: a failed run keeps its state with error
 * class `discarded`, a partial run keeps its values and forgets its failed calls. Their dead-letter
 * jobs are removed. Returns the runs discarded.
 */
export async function discardDeadRuns(
  db: Db,
  queue: QueueDriver,
  ids: number[],
  by: string,
): Promise<number> {
  const r = await db.query<{ id: number; dlq_job_id: string | null }>(
    `WITH old AS (SELECT r.id, r.dlq_job_id FROM runs r WHERE r.id = ANY($1::bigint[]) AND ${DEAD} FOR UPDATE)
     UPDATE runs r SET
            error_class = CASE WHEN r.state = 'failed' THEN '${DISCARDED}' ELSE r.error_class END,
            error = CASE WHEN r.state = 'failed'
                         THEN 'discarded from the dashboard (key ' || $2 || '): ' || coalesce(r.error, '') ELSE r.error END,
            failed_calls = CASE WHEN r.state = 'partial' THEN 0 ELSE r.failed_calls END,
            dlq_job_id = NULL, updated_at = now()
       FROM old WHERE r.id = old.id
     RETURNING r.id, old.dlq_job_id`,
    [ids, by],
  );
  const jobs = r.rows.map((x) => x.dlq_job_id).filter((x): x is string => x !== null);
  if (jobs.length > 0) await queue.remove(RUNS_DLQ, jobs);
  return r.rows.length;
}
