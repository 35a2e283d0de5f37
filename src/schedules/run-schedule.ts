import { ConfigError } from '../errors.ts';
import { getAction, parseArgs, type ScheduleServices } from './schedule-actions.ts';
import { finishRun, getSchedule, heartbeatRun, type ScheduleRun, startRun } from './schedule-store.ts';

/**
 * One firing of a schedule, wherever it comes from (a cron job, `run-now`): recorded in
 * `schedule_runs` (at most one running per schedule across processes: an overlapping firing is
 * recorded as skipped), the action run with its validated args, heartbeats while it runs, and the
 * summary or the error stored. A failed action is a failed firing, not an exception: the caller
 * (the runner) completes the job either way; only a database failure throws.
 */
export async function runSchedule(
  services: ScheduleServices,
  name: string,
  o: { trigger: 'cron' | 'manual'; jobId?: string; heartbeatMs?: number },
): Promise<ScheduleRun> {
  const schedule = await getSchedule(services.db, name);
  if (!schedule)
    throw new ConfigError(`no schedule "${name}" (see \`sluice schedules list\`)`, { exitCode: 2 });
  const started = await startRun(services.db, name, o.trigger, o.jobId ?? null);
  if ('skipped' in started) return started.skipped;
  const beat = setInterval(() => {
    heartbeatRun(services.db, started.id).catch(() => {});
  }, o.heartbeatMs ?? 30_000);
  try {
    let summary: Record<string, unknown> | undefined;
    let error: string | undefined;
    try {
      const action = getAction(schedule.action);
      summary = await action.run(services, parseArgs(action, schedule.args, name));
    } catch (err) {
      error = (err as Error).message;
      const partial = (err as { summary?: unknown }).summary;
      if (partial && typeof partial === 'object') summary = partial as Record<string, unknown>;
    }
    return await finishRun(services.db, started.id, {
      ...(summary ? { summary } : {}),
      ...(error !== undefined ? { error } : {}),
    });
  } finally {
    clearInterval(beat);
  }
}
