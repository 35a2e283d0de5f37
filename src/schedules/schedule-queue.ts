import type { Db } from '../db/db.ts';
import { createPgBossDriver } from '../queue/pg-boss-driver.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import { BUILTIN_SCHEDULES } from './builtin-schedules.ts';
import { ensureBuiltins, listSchedules, type Schedule } from './schedule-store.ts';

/** The queue every schedule fires into; the cron entry's key is the schedule's name. */
export const SCHEDULES_QUEUE = 'sluice.schedules';

/** A firing job's data. */
export interface FiringData {
  schedule: string;
}

export interface ScheduleQueueOptions {
  /** Run cron passes in this process (serve, worker). Default false (the CLI only edits entries). */
  cron?: boolean;
  /** Seconds between cron passes. Default 30 (an occurrence is sent within ~30 s of its time). */
  cronIntervalSeconds?: number;
  /** A firing whose process stopped sending heartbeats is handed out again after this. Default 60. */
  heartbeatSeconds?: number;
  superviseIntervalSeconds?: number;
  onError?(err: unknown): void;
}

/**
 * pg-boss on Sluice's database with the schedules queue. Its own instance (not the runs queue's), so
 * the schedules layer needs nothing from the engine; a firing is not retried (the next one comes),
 * but a firing whose process died is handed out again after `heartbeatSeconds`.
 */
export function openScheduleQueue(db: Db, o: ScheduleQueueOptions = {}): Promise<QueueDriver> {
  return createPgBossDriver({
    db,
    queues: [{ name: SCHEDULES_QUEUE, heartbeatSeconds: o.heartbeatSeconds ?? 60, retryLimit: 0 }],
    superviseIntervalSeconds: o.superviseIntervalSeconds ?? 5,
    cron: o.cron === true,
    ...(o.cronIntervalSeconds ? { cronIntervalSeconds: o.cronIntervalSeconds } : {}),
    ...(o.onError ? { onError: o.onError } : {}),
  });
}

/** Puts a schedule's cron entry in place (or takes it away when disabled). */
export async function applyEntry(queue: QueueDriver, s: Schedule): Promise<void> {
  if (s.enabled) {
    const data: FiringData = { schedule: s.name };
    await queue.cron.set(SCHEDULES_QUEUE, s.name, s.cron, data, { timezone: s.timezone });
  } else await queue.cron.unset(SCHEDULES_QUEUE, s.name);
}

/**
 * Creates the built-in schedules not created before and makes pg-boss's cron entries match the
 * `schedules` table: an entry per enabled schedule, none for the others. Entries already right are
 * left alone (rewriting one would not lose its catch-up, but there is no reason to).
 */
export async function installSchedules(db: Db, queue: QueueDriver): Promise<Schedule[]> {
  await ensureBuiltins(db, BUILTIN_SCHEDULES);
  const schedules = await listSchedules(db);
  const entries = new Map((await queue.cron.list(SCHEDULES_QUEUE)).map((e) => [e.key, e]));
  for (const s of schedules) {
    const e = entries.get(s.name);
    entries.delete(s.name);
    if (!s.enabled) {
      if (e) await queue.cron.unset(SCHEDULES_QUEUE, s.name);
    } else if (!e || e.cron !== s.cron || e.timezone !== s.timezone) await applyEntry(queue, s);
  }
  for (const stale of entries.keys()) await queue.cron.unset(SCHEDULES_QUEUE, stale);
  return schedules;
}
