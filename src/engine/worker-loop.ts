import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnavailable } from '../errors.ts';
import { type Reaper, startReaper } from '../ledger/reaper.ts';
import type { QueueJob } from '../queue/queue-driver.ts';
import { retryWhileDatabaseDown } from './db-retry.ts';
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
  /** Errors the loop survives (other than the database being unreachable): logged by the caller. */
  onError?(err: unknown): void;
  /**
   * One line when the database becomes unreachable and one when it is back (the loop backs off
   * meanwhile, up to 5 s between tries; runs in flight are deferred). Default: onError.
   */
  onNotice?(line: string): void;
  /**
   * How often the reaper (src/ledger/reaper.ts) settles the paid calls of processes that died: their
   * attempts become `unknown`, price counted as spent, reservation released. It also runs at start.
   * Default 5 000 ms; 0 turns it off.
   */
  reapIntervalMs?: number;
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
  const outage = outageReporter(options.onNotice ?? ((line) => options.onError?.(new Error(line))));
  /** Database outages are reported once (and waited out); anything else goes to onError. */
  const report = (err: unknown) => (isDatabaseUnavailable(err) ? outage.down(err) : options.onError?.(err));
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
        .catch((err: unknown) => {
          report(err);
          // Tried again with the next flush; a job never completed comes back after its heartbeat
          // lapses and finds its run final (skipped), so nothing is done twice either way.
          if (isDatabaseUnavailable(err)) toComplete.push(...jobs);
        });
    }
    return flushing;
  };
  const flushTimer = setInterval(flush, 50);
  const batched: RunEngine = {
    ...engine,
    onDatabaseWait: (err) => outage.down(err),
    complete: async (job) => {
      toComplete.push(job);
      if (toComplete.length >= 100) void flush();
    },
  };

  const notice = options.onNotice ?? ((line: string) => options.onError?.(new Error(line)));
  const reaper: Reaper | undefined =
    options.reapIntervalMs === 0
      ? undefined
      : startReaper(engine.db, {
          intervalMs: options.reapIntervalMs ?? 5_000,
          onError: report,
          onReaped: (r) =>
            notice(
              `${r.attempts} paid call${r.attempts === 1 ? '' : 's'} of a process that died (${r.owners.join(', ')}) marked unknown: $${r.costUsd.toFixed(4)} counted as spent, reservations released (sluice ledger --unknown)`,
            ),
        });

  const heartbeatTimer = setInterval(() => {
    const jobs = [...active.values()].map((a) => a.job);
    engine.queue.heartbeat(RUNS_QUEUE, jobs).catch(report);
  }, heartbeatMs);

  const start = (job: QueueJob<RunJobData>) => {
    const promise = executeRunJob(batched, job, abort.signal)
      .then((outcome) => {
        counts[outcome] += 1;
        options.onOutcome?.(outcome, job.data.runId);
      })
      // Unsettled (database unreachable for longer than the executor waits): the job stays claimed
      // until its heartbeat lapses, then pg-boss hands it out again and the run resumes from its memo.
      .catch(report)
      .finally(() => {
        active.delete(job.id);
        nudge();
      });
    active.set(job.id, { job, promise });
  };

  let backoffMs = 0;
  let onStop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    onStop = resolve;
  });
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
        outage.up();
        backoffMs = 0;
      } catch (err) {
        report(err);
        // Back off while fetching fails (database down): 0.25 s doubling to 5 s, never a busy loop.
        backoffMs = Math.min(5_000, Math.max(250, backoffMs * 2));
        await Promise.race([sleep(backoffMs), stopped]);
        continue;
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
    await reaper?.stop();
    // Last completions: worth waiting a little for a database that is coming back.
    await retryWhileDatabaseDown(
      async () => {
        await flushing;
        const jobs = toComplete;
        toComplete = [];
        if (jobs.length > 0) await engine.queue.complete(RUNS_QUEUE, jobs);
      },
      { maxMs: 10_000 },
    ).catch(report);
    return counts;
  };

  return {
    done: loop(),
    stop() {
      stopping = true;
      onStop();
      nudge();
    },
  };
}

/** Says once that the database went away and once that it came back, with how long it was gone. */
function outageReporter(notice: (line: string) => void) {
  let since: number | undefined;
  return {
    down(err: unknown) {
      if (since !== undefined) return;
      since = Date.now();
      const reason = err instanceof Error ? err.message : String(err);
      notice(
        `database unreachable (${reason}); runs in flight are deferred and resume from their finished steps; retrying with backoff`,
      );
    },
    up() {
      if (since === undefined) return;
      notice(`database reachable again after ${((Date.now() - since) / 1000).toFixed(1)} s; resuming`);
      since = undefined;
    },
  };
}
