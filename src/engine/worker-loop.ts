import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueJob } from '../queue/queue-driver.ts';
import {
  executeRunJob,
  RUNS_QUEUE,
  type RunEngine,
  type RunJobData,
  type RunOutcome,
} from './run-executor.ts';

export interface WorkerOptions {
  engine: RunEngine;
  /** Runs in flight at once in this process. Default 10. */
  concurrency?: number;
  /** The queue's heartbeat timeout; heartbeats go out every half of it. Default 20. */
  heartbeatSeconds?: number;
  /** Wait between fetches when the queue is empty, in ms. Default 200. */
  idlePollMs?: number;
  /** Checked when the queue looks empty: resolve true to end the loop (`sluice run`). Default: never. */
  until?: () => Promise<boolean>;
  /** After stop(), how long in-flight runs may take to finish before they are released. Default 10 s. */
  graceMs?: number;
  onOutcome?(outcome: RunOutcome, runId: number): void;
  /** Errors the loop survives (database briefly unreachable): logged by the caller. */
  onError?(err: unknown): void;
}

export interface Worker {
  /** Resolves with the outcome counts when the loop has ended and every job is settled. */
  done: Promise<Record<RunOutcome, number>>;
  /** Stop claiming; let in-flight runs finish within graceMs, then release them. Idempotent. */
  stop(): void;
}

const EMPTY: Record<RunOutcome, number> = {
  enriched: 0,
  partial: 0,
  failed: 0,
  retrying: 0,
  deferred: 0,
  throttled: 0,
  released: 0,
  budget: 0,
  skipped: 0,
};

/**
 * The claim loop: fetches as many jobs as there are free slots (no polling delay while work is
 * available), heartbeats the claimed ones, and batches completions. Several processes can run it
 * against one Postgres: claims use SKIP LOCKED, limits live in the gateway.
 */
export function startWorker(options: WorkerOptions): Worker {
  const { engine } = options;
  const concurrency = Math.max(1, options.concurrency ?? 10);
  const heartbeatMs = ((options.heartbeatSeconds ?? 20) * 1000) / 2;
  const counts = { ...EMPTY };
  const active = new Map<string, { job: QueueJob<RunJobData>; promise: Promise<void> }>();
  const abort = new AbortController();
  let stopping = false;
  let wake: () => void = () => {};
  const nudge = () => wake();

  // Completions are batched: one statement per ~50 ms instead of one per run.
  let toComplete: QueueJob<RunJobData>[] = [];
  let flushing: Promise<void> = Promise.resolve();
  const flush = () => {
    const jobs = toComplete;
    toComplete = [];
    if (jobs.length > 0) {
      flushing = flushing
        .then(() => engine.queue.complete(RUNS_QUEUE, jobs))
        .catch((err: unknown) => options.onError?.(err));
    }
    return flushing;
  };
  const flushTimer = setInterval(flush, 50);
  const batched: RunEngine = {
    ...engine,
    complete: async (job) => {
      toComplete.push(job);
      if (toComplete.length >= 100) void flush();
    },
  };

  const heartbeatTimer = setInterval(() => {
    const jobs = [...active.values()].map((a) => a.job);
    engine.queue.heartbeat(RUNS_QUEUE, jobs).catch((err: unknown) => options.onError?.(err));
  }, heartbeatMs);

  const start = (job: QueueJob<RunJobData>) => {
    const promise = executeRunJob(batched, job, abort.signal)
      .then((outcome) => {
        counts[outcome] += 1;
        options.onOutcome?.(outcome, job.data.runId);
      })
      // Unsettled (database unreachable): the job stays claimed until its heartbeat lapses, then returns.
      .catch((err: unknown) => options.onError?.(err))
      .finally(() => {
        active.delete(job.id);
        nudge();
      });
    active.set(job.id, { job, promise });
  };

  const loop = async () => {
    while (!stopping) {
      const free = concurrency - active.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      let jobs: QueueJob<RunJobData>[] = [];
      try {
        jobs = await engine.queue.fetch<RunJobData>(RUNS_QUEUE, Math.min(free, 100));
      } catch (err) {
        options.onError?.(err);
      }
      // Started even when stop() came meanwhile: they are claimed, and finish or get released below.
      for (const job of jobs) start(job);
      if (jobs.length > 0) continue;
      if (active.size === 0 && options.until && (await options.until().catch(() => false))) break;
      await Promise.race([
        sleep(options.idlePollMs ?? 200),
        new Promise<void>((resolve) => {
          wake = resolve;
        }),
      ]);
    }
    // Graceful stop: in-flight runs get graceMs to finish, then are aborted and released.
    const all = Promise.all([...active.values()].map((a) => a.promise));
    const grace = setTimeout(() => abort.abort(), options.graceMs ?? 10_000);
    await all;
    clearTimeout(grace);
    clearInterval(heartbeatTimer);
    clearInterval(flushTimer);
    await flush();
    return counts;
  };

  return {
    done: loop(),
    stop() {
      stopping = true;
      nudge();
    },
  };
}
