import type { Queryable } from '../db/db.ts';

/**
 * The engine's read port for a waterfall step's recorded attempts (the memoized step outputs of every run
 * of a pipeline), for the optimizer (src/learning/optimizer): which providers each instance tried, in
 * order, and what each answered, with the account's value of a segment field. The memo format
 * (`output.data.attempts`, `<foreach>/<foreach>.<child>/<sub key>` step keys) stays this layer's business.
 */
export interface RecordedAttempt {
  provider?: string;
  operation?: string;
  /** `hit`, `not_found`, `rejected`, `error`, `skipped…`. */
  result?: string;
  /** The validator ran on the hit (absent on older rows). */
  validated?: boolean;
}

export interface RecordedStepInstance {
  attempts: RecordedAttempt[];
  /** The account's value of `segmentBy` ('(none)' when empty; '' without segmentBy). */
  segment: string;
}

/**
 * Every instance of the step in the order it ran. `memoKey` is the step id, or `foreach.child` for a
 * foreach child (`child: true`).
 */
export async function waterfallAttempts(
  db: Queryable,
  pipeline: string,
  step: { memoKey: string; child: boolean },
  segmentBy?: string,
): Promise<RecordedStepInstance[]> {
  const r = await db.query<{ attempts: RecordedAttempt[]; segment: string | null }>(
    `SELECT s.output->'data'->'attempts' AS attempts,
            CASE WHEN $4::text IS NULL THEN '' ELSE coalesce(to_jsonb(a)->>$4, a.attributes->>$4, '(none)') END AS segment
       FROM runs r JOIN run_steps s ON s.run_id = r.id LEFT JOIN accounts a ON a.id = r.account_id
      WHERE r.pipeline = $1 AND jsonb_typeof(s.output->'data'->'attempts') = 'array'
        AND CASE WHEN $3 THEN position('/' IN s.step_key) > 0 AND split_part(s.step_key, '/', 2) = $2
                 ELSE s.step_key = $2 END
      ORDER BY s.completed_at, r.id`,
    [pipeline, step.memoKey, step.child, segmentBy ?? null],
  );
  return r.rows.map((x) => ({ attempts: x.attempts, segment: x.segment ?? '' }));
}
