import type { Db } from '../db/db.ts';
import { isDatabaseUnavailable } from '../errors.ts';
import { type PollLoop, startPollLoop } from '../queue/poll-loop.ts';
import type { QueueDriver, QueueJob } from '../queue/queue-driver.ts';
import { runSchedule } from './run-schedule.ts';
import type { ScheduleServices } from './schedule-actions.ts';
import { type FiringData, installSchedules, openScheduleQueue, SCHEDULES_QUEUE } from './schedule-queue.ts';
import type { ScheduleRun } from './schedule-store.ts';

export interface ScheduleRunnerOptions {
  services: ScheduleServices;
  /** Seconds between cron passes. Default 30. */
  cronIntervalSeconds?: number;
  /** How often this process looks for a firing to run, ms. Default 1000. */
  pollMs?: number;
  /** Heartbeat of a firing's job and run row, ms. Default 20,000 (the job's lease is 60 s). */
  heartbeatMs?: number;
  heartbeatSeconds?: number;
  onError?(err: unknown): void;
  /** Called after each firing this process ran. */
  onFired?(run: ScheduleRun): void;
}

export interface ScheduleRunner {
  queue: QueueDriver;
  stop(): Promise<void>;
}

/**
 * What `sluice serve` and `sluice worker` run next to their other loops: pg-boss cron passes (every
 * process may run them; pg-boss sends each occurrence once) and a loop that takes one firing at a
 * time from the schedules queue (SKIP LOCKED: one process runs it) and runs it. The built-in
 * schedules are installed on start.
 */
export async function startScheduleRunner(o: ScheduleRunnerOptions): Promise<ScheduleRunner> {
  const db: Db = o.services.db;
  const queue = await openScheduleQueue(db, {
    cron: true,
    ...(o.cronIntervalSeconds ? { cronIntervalSeconds: o.cronIntervalSeconds } : {}),
    ...(o.heartbeatSeconds ? { heartbeatSeconds: o.heartbeatSeconds } : {}),
    ...(o.onError ? { onError: o.onError } : {}),
  });
  try {
    await installSchedules(db, queue);
  } catch (err) {
    await queue.stop();
    throw err;
  }
  const fire = async (job: QueueJob<FiringData>) => {
    const beat = setInterval(() => {
      queue.heartbeat(SCHEDULES_QUEUE, [job]).catch(() => {});
    }, o.heartbeatMs ?? 20_000);
    try {
      const run = await runSchedule(o.services, job.data.schedule, {
        trigger: 'cron',
        jobId: job.id,
        ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}),
      });
      o.onFired?.(run);
    } catch (err) {
      // A database outage leaves the job claimed; its heartbeat lapses and it is handed out again.
      if (isDatabaseUnavailable(err)) throw err;
      o.onError?.(err);
    } finally {
      clearInterval(beat);
    }
    await queue.complete(SCHEDULES_QUEUE, [job]);
  };
  const loop: PollLoop = startPollLoop(
    async () => {
      const jobs = await queue.fetch<FiringData>(SCHEDULES_QUEUE, 1);
      for (const job of jobs) await fire(job);
      return jobs.length > 0;
    },
    { intervalMs: o.pollMs ?? 1000, ...(o.onError ? { onError: o.onError } : {}) },
  );
  return {
    queue,
    async stop() {
      // A long firing (a freshness pass) is not waited for past 10 s: its job, no longer kept alive,
      // is handed out again after its heartbeat lapses, and the firing's work is idempotent.
      await Promise.race([loop.stop(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await queue.stop();
    },
  };
}
