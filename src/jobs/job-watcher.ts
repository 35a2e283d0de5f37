import type { Db } from '../db/db.ts';
import { settleBatch } from '../engine/batch.ts';
import { type PollLoop, startPollLoop } from '../queue/poll-loop.ts';
import { enqueueDelivery } from '../webhooks/webhook-store.ts';
import { enrichCourseResult, pipelineResult } from './job-result.ts';
import type { JobKind } from './job-store.ts';

/** A job whose batch never appeared (its process died in between) is failed after this. */
const ORPHAN_SECONDS = 120;

/**
 * Finishes jobs: when a job's batch has settled, writes the job's result and state and — in the same
 * transaction — the `job.completed` / `job.failed` delivery for its endpoint. The UPDATE … WHERE state =
 * 'processing' makes one process win when several servers watch the same database. Returns a loop.
 */
export function startJobWatcher(
  db: Db,
  options: { intervalMs?: number; onFinished?: () => void; onError?: (err: unknown) => void } = {},
): PollLoop {
  const tick = async () => {
    const open = await db.query<{
      id: string;
      kind: JobKind;
      batch_id: number | null;
      request: Record<string, unknown>;
      created_at: Date;
      orphan: boolean;
    }>(
      `SELECT id, kind, batch_id, request, created_at, created_at < now() - make_interval(secs => $1) AS orphan
         FROM jobs WHERE state = 'processing' ORDER BY created_at LIMIT 200`,
      [ORPHAN_SECONDS],
    );
    let finished = 0;
    for (const job of open.rows) {
      if (job.batch_id === null) {
        if (job.orphan)
          await finishJob(
            db,
            job.id,
            'failed',
            null,
            'the job was interrupted before its runs were queued; start it again',
          );
        continue;
      }
      if (!(await settleBatch(db, job.batch_id))) continue;
      const facts = {
        jobId: job.id,
        batchId: job.batch_id,
        request: job.request,
        createdAt: job.created_at,
        finishedAt: new Date(),
      };
      const result =
        job.kind === 'enrich-course' ? await enrichCourseResult(db, facts) : await pipelineResult(db, facts);
      const counts = await db.query<{ ok: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE state IN ('enriched', 'partial'))::int AS ok, count(*) FILTER (WHERE state = 'failed')::int AS failed
           FROM runs WHERE batch_id = $1`,
        [job.batch_id],
      );
      const c = counts.rows[0]!;
      const state = c.ok === 0 && c.failed > 0 ? 'failed' : 'completed';
      if (
        await finishJob(db, job.id, state, result, state === 'failed' ? `all ${c.failed} runs failed` : null)
      )
        finished++;
    }
    if (finished > 0) options.onFinished?.();
    return false;
  };
  return startPollLoop(tick, { intervalMs: options.intervalMs ?? 1000, onError: options.onError });
}

async function finishJob(
  db: Db,
  id: string,
  state: 'completed' | 'failed',
  result: unknown,
  error: string | null,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ endpoint_id: number | null }>(
      `UPDATE jobs SET state = $2, result = $3::jsonb, error = $4, finished_at = now()
        WHERE id = $1 AND state = 'processing' RETURNING endpoint_id`,
      [id, state, JSON.stringify(result), error],
    );
    const row = r.rows[0];
    if (!row) return false;
    if (row.endpoint_id !== null) {
      const payload = result ?? { job_id: id, status: state, error };
      await enqueueDelivery(tx, {
        endpointId: row.endpoint_id,
        eventType: `job.${state}`,
        payload: { type: `job.${state}`, ...(payload as object) },
        jobId: id,
      });
    }
    return true;
  });
}
