import type { Queryable } from '../db/db.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { prepared } from '../db/prepared.ts';
import type { StepOutput } from './pipeline-types.ts';
import type { AttemptStats } from './run-store.ts';

interface Memo {
  runId: number;
  stepKey: string;
  output: StepOutput;
  stats: AttemptStats;
}

/**
 * Group commit of memoized steps: the steps that complete in the same tick across all in-flight runs
 * are stored in one INSERT. Each caller still waits until its row is stored before its run moves on,
 * so a finished step is durable before the next one starts; only the number of statements shrinks.
 */
export class MemoWriter {
  readonly #group: GroupCommit<Memo, null>;

  constructor(db: Queryable) {
    this.#group = new GroupCommit((batch) => insertMemos(db, batch), 1000);
  }

  async save(runId: number, stepKey: string, output: StepOutput, stats: AttemptStats): Promise<void> {
    await this.#group.add({ runId, stepKey, output, stats });
  }
}

const MEMO_INSERT = prepared(
  `INSERT INTO run_steps (run_id, step_key, status, output, calls, cache_hits, cost_usd)
   SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::int[], $7::numeric[])
   ON CONFLICT (run_id, step_key) DO NOTHING`,
);

async function insertMemos(db: Queryable, batch: Memo[]): Promise<null[]> {
  // ON CONFLICT: a duplicate of the run (redelivered job) keeps the first stored output.
  await db.query(MEMO_INSERT, [
    batch.map((p) => p.runId),
    batch.map((p) => p.stepKey),
    batch.map((p) => p.output.status),
    batch.map((p) => JSON.stringify(p.output)),
    batch.map((p) => p.stats.calls),
    batch.map((p) => p.stats.cacheHits),
    batch.map((p) => p.stats.costUsd),
  ]);
  return batch.map(() => null);
}
