import type { Queryable } from '../db/db.ts';
import type { StepOutput } from './pipeline-types.ts';
import type { AttemptStats } from './run-store.ts';

interface Pending {
  runId: number;
  stepKey: string;
  output: StepOutput;
  stats: AttemptStats;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit of memoized steps: the steps that complete in the same tick across all in-flight runs
 * are stored in one INSERT. Each caller still waits until its row is stored before its run moves on,
 * so a finished step is durable before the next one starts; only the number of statements shrinks.
 */
export class MemoWriter {
  #pending: Pending[] = [];
  #running = false;

  constructor(private readonly db: Queryable) {}

  save(runId: number, stepKey: string, output: StepOutput, stats: AttemptStats): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ runId, stepKey, output, stats, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  /** One INSERT at a time: while it runs, the next batch gathers (bigger batches under load). */
  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending.length > 0) {
        await new Promise((r) => setImmediate(r));
        await this.#flush(this.#pending.splice(0, 1000));
      }
    } finally {
      this.#running = false;
    }
  }

  async #flush(batch: Pending[]): Promise<void> {
    try {
      // ON CONFLICT: a duplicate of the run (redelivered job) keeps the first stored output.
      await this.db.query(
        `INSERT INTO run_steps (run_id, step_key, status, output, calls, cache_hits, cost_usd)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::int[], $7::numeric[])
         ON CONFLICT (run_id, step_key) DO NOTHING`,
        [
          batch.map((p) => p.runId),
          batch.map((p) => p.stepKey),
          batch.map((p) => p.output.status),
          batch.map((p) => JSON.stringify(p.output)),
          batch.map((p) => p.stats.calls),
          batch.map((p) => p.stats.cacheHits),
          batch.map((p) => p.stats.costUsd),
        ],
      );
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
