import type { Db, Queryable } from '../db/db.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { type FieldObservation, writeFieldValues } from '../records/field-values.ts';
import { type RunResult, runObservations } from './final-write.ts';
import type { StepError } from './pipeline-types.ts';
import type { AttemptStats } from './run-store.ts';

export interface FinishedRun {
  result: RunResult;
  jobId: string;
  state: 'enriched' | 'partial';
  stats: AttemptStats;
  /** Calls that failed for good: recorded on the run (error, errors, failed_calls) for `sluice dlq`. */
  errors?: StepError[];
  /** The run finished before and was redriven: values it already wrote are not written again. */
  redriven?: boolean;
}

/** The run's `error` line for failed calls: how many, and the first reason. */
function failedCallsSummary(errors: StepError[]): string {
  const first = errors[0]!;
  const where = [first.step, first.contact, first.provider && `${first.provider}.${first.operation}`]
    .filter(Boolean)
    .join(', ');
  return `${errors.length} call${errors.length > 1 ? 's' : ''} failed; first (${where}): ${first.message}`;
}

/**
 * Group commit of final writes. Each run's results are all or nothing, and so is a group: the runs
 * that finish while the previous group commits are written in one transaction (one UPDATE of their
 * states, one writeFieldValues for all their values). If the group fails, each run is retried alone,
 * so a run with a bad value fails by itself and never takes the others with it.
 * Resolves false for a run another job owns now (its values are not written).
 */
export class FinalWriter {
  readonly #group: GroupCommit<FinishedRun, boolean>;

  constructor(db: Db) {
    this.#group = new GroupCommit(async (group) => {
      const owned = await db.transaction((tx) => writeGroup(tx, group));
      return group.map((g) => owned.has(g.result.runId));
    }, 64);
  }

  write(run: FinishedRun): Promise<boolean> {
    return this.#group.add(run);
  }
}

/** Moves the runs to their final state (fenced by job) and writes the owned runs' values. */
async function writeGroup(tx: Queryable, group: FinishedRun[]): Promise<Set<number>> {
  // Account order keeps row-lock order the same in every process (no deadlocks between groups).
  const sorted = [...group].sort((a, b) => a.result.accountId - b.result.accountId);
  const r = await tx.query<{ id: number }>(
    `UPDATE runs r SET state = u.state, calls = r.calls + u.calls, cache_hits = r.cache_hits + u.hits,
            cost_usd = r.cost_usd + u.cost, error_class = u.error_class, error = u.error,
            failed_calls = u.failed_calls,
            errors = CASE WHEN u.failed_calls = 0 THEN r.errors ELSE
              (SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
                 FROM jsonb_array_elements(u.errs || r.errors) WITH ORDINALITY AS t(e, n) WHERE n <= 10) END,
            throttles = 0, throttled_since = NULL, finished_at = now(), updated_at = now()
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[], $6::numeric[],
                   $7::text[], $8::text[], $9::int[], $10::jsonb[])
         AS u(id, job_id, state, calls, hits, cost, error_class, error, failed_calls, errs)
      WHERE r.id = u.id AND r.job_id = u.job_id AND r.state = 'running'
      RETURNING r.id`,
    [
      sorted.map((g) => g.result.runId),
      sorted.map((g) => g.jobId),
      sorted.map((g) => g.state),
      sorted.map((g) => g.stats.calls),
      sorted.map((g) => g.stats.cacheHits),
      sorted.map((g) => g.stats.costUsd),
      sorted.map((g) => (g.errors?.length ? g.errors[0]!.errorClass : null)),
      sorted.map((g) => (g.errors?.length ? failedCallsSummary(g.errors) : null)),
      sorted.map((g) => g.errors?.length ?? 0),
      sorted.map((g) =>
        JSON.stringify(
          (g.errors ?? [])
            .slice(0, 10)
            .map((e) => ({ at: new Date().toISOString(), class: e.errorClass, ...e })),
        ),
      ),
    ],
  );
  const owned = new Set(r.rows.map((row) => row.id));
  const observations = [];
  for (const g of sorted) {
    if (!owned.has(g.result.runId)) continue;
    const mine = await runObservations(tx, g.result);
    observations.push(...(g.redriven ? await notYetWritten(tx, g.result.runId, mine) : mine));
  }
  await writeFieldValues(tx, observations);
  return owned;
}

/**
 * A redriven run replays its memoized successes, whose values its first final write recorded: those
 * (same run, entity and field) are dropped, so a redrive adds only what the failed calls now found.
 */
async function notYetWritten(
  tx: Queryable,
  runId: number,
  observations: FieldObservation[],
): Promise<FieldObservation[]> {
  if (observations.length === 0) return observations;
  const r = await tx.query<{ entity_type: string; entity_id: number; field: string }>(
    `SELECT DISTINCT entity_type, entity_id, field FROM field_values
      WHERE run_id = $1 AND entity_type = ANY($2::text[]) AND entity_id = ANY($3::bigint[])`,
    [
      runId,
      [...new Set(observations.map((o) => o.entityType))],
      [...new Set(observations.map((o) => o.entityId))],
    ],
  );
  const written = new Set(r.rows.map((row) => `${row.entity_type}:${row.entity_id}:${row.field}`));
  return observations.filter((o) => !written.has(`${o.entityType}:${o.entityId}:${o.field}`));
}
