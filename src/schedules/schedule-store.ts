import { hostname } from 'node:os';
import type { Queryable } from '../db/db.ts';

/** A schedule: what runs (`action` with `args`) and when (`cron` in `timezone`). */
export interface Schedule {
  name: string;
  action: string;
  args: Record<string, unknown>;
  cron: string;
  timezone: string;
  builtin: boolean;
  enabled: boolean;
}

/** One firing of a schedule, as recorded in `schedule_runs`. */
export interface ScheduleRun {
  id: number;
  schedule: string;
  trigger: 'cron' | 'manual';
  jobId: string | null;
  state: 'running' | 'succeeded' | 'failed' | 'skipped' | 'abandoned';
  runner: string;
  startedAt: Date;
  finishedAt: Date | null;
  summary: Record<string, unknown> | null;
  error: string | null;
}

/** A firing whose runner sent no heartbeat for this long is abandoned (the process died). */
export const RUN_LEASE_SECONDS = 120;

export const RUNNER = `${hostname()}:${process.pid}`;

interface ScheduleRow {
  name: string;
  action: string;
  args: Record<string, unknown>;
  cron: string;
  timezone: string;
  builtin: boolean;
  enabled: boolean;
}

const toSchedule = (r: ScheduleRow): Schedule => ({
  name: r.name,
  action: r.action,
  args: r.args ?? {},
  cron: r.cron,
  timezone: r.timezone,
  builtin: r.builtin,
  enabled: r.enabled,
});

export async function listSchedules(db: Queryable): Promise<Schedule[]> {
  const r = await db.query<ScheduleRow>('SELECT * FROM schedules ORDER BY builtin DESC, name');
  return r.rows.map(toSchedule);
}

export async function getSchedule(db: Queryable, name: string): Promise<Schedule | undefined> {
  const r = await db.query<ScheduleRow>('SELECT * FROM schedules WHERE name = $1', [name]);
  return r.rows[0] ? toSchedule(r.rows[0]) : undefined;
}

/** Creates the built-in rows that were never created; a removed one (enabled = false) stays removed. */
export async function ensureBuiltins(db: Queryable, builtins: Omit<Schedule, 'enabled'>[]): Promise<void> {
  for (const s of builtins)
    await db.query(
      `INSERT INTO schedules (name, action, args, cron, timezone, builtin) VALUES ($1, $2, $3, $4, $5, true)
       ON CONFLICT (name) DO NOTHING`,
      [s.name, s.action, JSON.stringify(s.args), s.cron, s.timezone],
    );
}

/** Creates or replaces a schedule (and enables it). */
export async function upsertSchedule(db: Queryable, s: Omit<Schedule, 'enabled'>): Promise<void> {
  await db.query(
    `INSERT INTO schedules (name, action, args, cron, timezone, builtin) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (name) DO UPDATE SET action = excluded.action, args = excluded.args, cron = excluded.cron,
       timezone = excluded.timezone, enabled = true, updated_at = now()`,
    [s.name, s.action, JSON.stringify(s.args), s.cron, s.timezone, s.builtin],
  );
}

/** Removes a schedule: a built-in is kept disabled (so it is not re-created), another is deleted. */
export async function removeSchedule(db: Queryable, name: string): Promise<boolean> {
  const r = await db.query(
    `WITH gone AS (DELETE FROM schedules WHERE name = $1 AND NOT builtin RETURNING 1),
          off AS (UPDATE schedules SET enabled = false, updated_at = now() WHERE name = $1 AND builtin RETURNING 1)
     SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM off) AS n`,
    [name],
  );
  return Number((r.rows[0] as { n: number | string } | undefined)?.n ?? 0) > 0;
}

interface RunRow {
  id: string | number;
  schedule: string;
  trigger: 'cron' | 'manual';
  job_id: string | null;
  state: ScheduleRun['state'];
  runner: string;
  started_at: Date | string;
  finished_at: Date | string | null;
  summary: Record<string, unknown> | null;
  error: string | null;
}

const toRun = (r: RunRow): ScheduleRun => ({
  id: Number(r.id),
  schedule: r.schedule,
  trigger: r.trigger,
  jobId: r.job_id,
  state: r.state,
  runner: r.runner,
  startedAt: new Date(r.started_at),
  finishedAt: r.finished_at ? new Date(r.finished_at) : null,
  summary: r.summary,
  error: r.error,
});

/**
 * Records the start of a firing. Returns undefined when another firing of the schedule is still
 * running (the unique index on running rows decides it across processes); that firing is then
 * recorded as `skipped`. A running row whose heartbeat lapsed is first marked `abandoned`.
 */
export async function startRun(
  db: Queryable,
  schedule: string,
  trigger: 'cron' | 'manual',
  jobId: string | null,
): Promise<{ id: number } | { skipped: ScheduleRun }> {
  await db.query(
    `UPDATE schedule_runs SET state = 'abandoned', finished_at = now(), error = 'the runner stopped sending heartbeats'
      WHERE schedule = $1 AND state = 'running' AND heartbeat_at < now() - make_interval(secs => $2)`,
    [schedule, RUN_LEASE_SECONDS],
  );
  const r = await db.query<{ id: string }>(
    `INSERT INTO schedule_runs (schedule, trigger, job_id, state, runner) VALUES ($1, $2, $3, 'running', $4)
     ON CONFLICT (schedule) WHERE state = 'running' DO NOTHING RETURNING id`,
    [schedule, trigger, jobId, RUNNER],
  );
  if (r.rows[0]) return { id: Number(r.rows[0].id) };
  const s = await db.query<RunRow>(
    `INSERT INTO schedule_runs (schedule, trigger, job_id, state, runner, finished_at, error)
     VALUES ($1, $2, $3, 'skipped', $4, now(), 'an earlier firing was still running') RETURNING *`,
    [schedule, trigger, jobId, RUNNER],
  );
  return { skipped: toRun(s.rows[0]!) };
}

export async function heartbeatRun(db: Queryable, id: number): Promise<void> {
  await db.query(`UPDATE schedule_runs SET heartbeat_at = now() WHERE id = $1 AND state = 'running'`, [id]);
}

export async function finishRun(
  db: Queryable,
  id: number,
  outcome: { summary?: Record<string, unknown>; error?: string },
): Promise<ScheduleRun> {
  const r = await db.query<RunRow>(
    `UPDATE schedule_runs SET state = $2, finished_at = now(), summary = $3, error = $4 WHERE id = $1 RETURNING *`,
    [
      id,
      outcome.error === undefined ? 'succeeded' : 'failed',
      outcome.summary ? JSON.stringify(outcome.summary) : null,
      outcome.error ?? null,
    ],
  );
  return toRun(r.rows[0]!);
}

/** The newest firings, of one schedule or of all. */
export async function listRuns(
  db: Queryable,
  o: { schedule?: string; limit?: number } = {},
): Promise<ScheduleRun[]> {
  const r = await db.query<RunRow>(
    `SELECT * FROM schedule_runs WHERE ($1::text IS NULL OR schedule = $1) ORDER BY id DESC LIMIT $2`,
    [o.schedule ?? null, o.limit ?? 20],
  );
  return r.rows.map(toRun);
}

/** The last firing of each schedule. */
export async function lastRuns(db: Queryable): Promise<Map<string, ScheduleRun>> {
  const r = await db.query<RunRow>(
    'SELECT DISTINCT ON (schedule) * FROM schedule_runs ORDER BY schedule, id DESC',
  );
  return new Map(r.rows.map((x) => [x.schedule, toRun(x)]));
}
