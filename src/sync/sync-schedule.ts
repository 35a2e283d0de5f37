import { randomUUID } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { Db, Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { type PollLoop, startPollLoop } from '../queue/poll-loop.ts';
import type { SyncDefinition } from './compile-sync.ts';
import { parseEvery } from './every.ts';
import { loadSync } from './load-sync.ts';
import { runSync, type SyncReport } from './run-sync.ts';

/**
 * When a sync runs by itself (docs/sync.md "When a sync runs"). A definition's `runs.after_pipeline`
 * and `runs.every` are acted on once it is enabled (`sluice sync enable`, a row of `sync_schedules`):
 * it is due when a batch of that pipeline finished after the last one it synced after, or when `every`
 * has passed since it last started. Whoever checks (`sluice serve`, `sluice sync watch`, `sluice run`
 * after its batch) claims a due sync with a lease, so several processes on one database run it once.
 */

/** A claim lasts this long and is renewed while the sync runs. */
const LEASE_SECONDS = 120;
/** After a failed sync (a missing key, the CRM down) it is not tried again before this. */
const BACKOFF_SECONDS = 300;

export interface SyncSchedule {
  syncName: string;
  definition: string;
  enabled: boolean;
  afterPipeline: string | undefined;
  every: string | undefined;
  batchesUntil: Date | null;
  lastStartedAt: Date | null;
  lastFinishedAt: Date | null;
  lastStatus: string | null;
  lastError: string | null;
}

/** A built-in name stays a name; a file path is stored absolute, so any working directory finds it. */
function definitionRef(nameOrFile: string): string {
  return /^[a-z0-9-]+$/.test(nameOrFile) || isAbsolute(nameOrFile) ? nameOrFile : resolve(nameOrFile);
}

/**
 * Switches a definition's `runs` on. Refuses one without `runs` (nothing would ever start it). The
 * definition is read again at every check, so an edited file takes effect without enabling it again.
 */
export async function enableSync(db: Queryable, nameOrFile: string): Promise<SyncDefinition> {
  const ref = definitionRef(nameOrFile);
  const def = await loadSync(ref);
  if (!def.spec.runs?.after_pipeline && !def.spec.runs?.every)
    throw new ConfigError(
      `sync "${def.name}" has no runs.after_pipeline or runs.every: nothing would start it; add one, or run it with "sluice sync run ${nameOrFile}"`,
      { exitCode: 2 },
    );
  if (def.spec.runs.every) parseEvery('runs.every', def.spec.runs.every);
  await db.query(
    `INSERT INTO sync_schedules (sync_name, definition) VALUES ($1, $2)
     ON CONFLICT (sync_name) DO UPDATE SET definition = EXCLUDED.definition, enabled = true,
       lease_until = CASE WHEN sync_schedules.last_status = 'failed' THEN NULL ELSE sync_schedules.lease_until END`,
    [def.name, ref],
  );
  return def;
}

/** Switches a sync's `runs` off; `sluice sync run` still works. Returns false when it was not enabled. */
export async function disableSync(db: Queryable, syncName: string): Promise<boolean> {
  const r = await db.query('UPDATE sync_schedules SET enabled = false WHERE sync_name = $1 AND enabled', [
    syncName,
  ]);
  return (r.rowCount ?? 0) > 0;
}

/** Every schedule with what its definition says now (a definition that no longer loads says so). */
export async function listSchedules(db: Queryable): Promise<SyncSchedule[]> {
  const r = await db.query<{
    sync_name: string;
    definition: string;
    enabled: boolean;
    batches_until: Date | null;
    last_started_at: Date | null;
    last_finished_at: Date | null;
    last_status: string | null;
    last_error: string | null;
  }>(
    `SELECT sync_name, definition, enabled, batches_until, last_started_at, last_finished_at, last_status, last_error
       FROM sync_schedules ORDER BY sync_name`,
  );
  const out: SyncSchedule[] = [];
  for (const row of r.rows) {
    const runs = await loadSync(row.definition).then(
      (d) => d.spec.runs,
      () => undefined,
    );
    out.push({
      syncName: row.sync_name,
      definition: row.definition,
      enabled: row.enabled,
      afterPipeline: runs?.after_pipeline,
      every: runs?.every,
      batchesUntil: row.batches_until,
      lastStartedAt: row.last_started_at,
      lastFinishedAt: row.last_finished_at,
      lastStatus: row.last_status,
      lastError: row.last_error,
    });
  }
  return out;
}

/** Does a batch's pipeline (a name or a file, as given to `sluice run`) name this pipeline? */
export function pipelineMatches(batchPipeline: string, name: string): boolean {
  if (batchPipeline === name) return true;
  const base = batchPipeline.split(/[\\/]/).pop() ?? batchPipeline;
  return base.replace(/\.ya?ml$/i, '') === name && base !== name;
}

/**
 * The newest finished_at of the pipeline's batches that finished after `since` (null: none), as the
 * database's text: a JS Date would drop the microseconds and the same batch would look newer again.
 */
async function newestFinishedBatch(
  db: Queryable,
  pipeline: string,
  since: string | null,
): Promise<string | null> {
  const r = await db.query<{ pipeline: string; finished_at: string; micros: string }>(
    `SELECT pipeline, max(finished_at)::text AS finished_at,
            (extract(epoch FROM max(finished_at)) * 1000000)::bigint::text AS micros
       FROM batches
      WHERE finished_at IS NOT NULL AND finished_at > coalesce($1::timestamptz, '-infinity') GROUP BY pipeline`,
    [since],
  );
  let newest: { at: string; micros: bigint } | null = null;
  for (const row of r.rows)
    if (pipelineMatches(row.pipeline, pipeline) && (!newest || BigInt(row.micros) > newest.micros))
      newest = { at: row.finished_at, micros: BigInt(row.micros) };
  return newest?.at ?? null;
}

export interface ScheduledRun {
  syncName: string;
  /** What started it: `after pipeline golf-courses` or `every 15m`. */
  reason: string;
  report?: SyncReport;
  error?: string;
}

export interface RunDueOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** Only syncs that run after this pipeline (`sluice run` after its batch). */
  pipeline?: string;
  /** Passed to runSync (tests, sandbox). */
  baseUrls?: Record<string, string>;
  concurrency?: number;
  log?: (line: string) => void;
}

/**
 * Runs every enabled sync that is due, one after the other, each under a lease. Returns what ran. A
 * failure is recorded on the schedule (shown by `sluice sync schedules`) and backs it off; it never
 * stops the others.
 */
export async function runDueSyncs(db: Db, o: RunDueOptions): Promise<ScheduledRun[]> {
  const rows = await db.query<{
    sync_name: string;
    definition: string;
    batches_until: string | null;
    last_started_at: Date | null;
  }>(
    `SELECT sync_name, definition, batches_until::text, last_started_at FROM sync_schedules
      WHERE enabled AND (lease_until IS NULL OR lease_until < now()) ORDER BY sync_name`,
  );
  const ran: ScheduledRun[] = [];
  for (const row of rows.rows) {
    let def: SyncDefinition;
    try {
      def = await loadSync(row.definition);
    } catch (err) {
      await recordFailure(db, row.sync_name, null, (err as Error).message);
      ran.push({ syncName: row.sync_name, reason: 'definition', error: (err as Error).message });
      continue;
    }
    const runs = def.spec.runs ?? {};
    let reason: string | undefined;
    let batchesUntil: string | null = null;
    if (runs.after_pipeline) {
      batchesUntil = await newestFinishedBatch(db, runs.after_pipeline, row.batches_until);
      if (batchesUntil) reason = `after pipeline ${runs.after_pipeline}`;
    }
    if (
      o.pipeline !== undefined &&
      !(runs.after_pipeline && pipelineMatches(o.pipeline, runs.after_pipeline))
    )
      continue;
    if (!reason && runs.every && o.pipeline === undefined) {
      const ms = parseEvery('runs.every', runs.every);
      if (!row.last_started_at || Date.now() - row.last_started_at.getTime() >= ms)
        reason = `every ${runs.every}`;
    }
    if (!reason) continue;
    const owner = randomUUID();
    const claimed = await db.query(
      `UPDATE sync_schedules SET lease_until = now() + make_interval(secs => $2), lease_owner = $3,
              last_started_at = now()
        WHERE sync_name = $1 AND enabled AND (lease_until IS NULL OR lease_until < now())`,
      [row.sync_name, LEASE_SECONDS, owner],
    );
    if ((claimed.rowCount ?? 0) === 0) continue;
    o.log?.(`sync ${def.name}: starting (${reason})`);
    const renew = setInterval(
      () => {
        void db
          .query(
            `UPDATE sync_schedules SET lease_until = now() + make_interval(secs => $2)
            WHERE sync_name = $1 AND lease_owner = $3`,
            [row.sync_name, LEASE_SECONDS, owner],
          )
          .catch(() => {});
      },
      (LEASE_SECONDS * 1000) / 3,
    );
    try {
      const baseUrl = o.baseUrls?.[def.destination];
      const report = await runSync({
        db,
        def,
        env: o.env,
        ...(baseUrl ? { baseUrl } : {}),
        ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      });
      await db.query(
        `UPDATE sync_schedules SET lease_until = NULL, lease_owner = NULL, last_finished_at = now(),
                last_status = 'done', last_error = NULL,
                batches_until = CASE WHEN $2::timestamptz IS NULL THEN batches_until
                                     ELSE greatest(coalesce(batches_until, '-infinity'), $2::timestamptz) END
          WHERE sync_name = $1 AND lease_owner = $3`,
        [row.sync_name, batchesUntil, owner],
      );
      const c = report.counts;
      o.log?.(
        `sync ${def.name}: done — ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged, ${c.retryable + c.permanent} failed`,
      );
      ran.push({ syncName: def.name, reason, report });
    } catch (err) {
      const message = (err as Error).message;
      await recordFailure(db, row.sync_name, owner, message);
      o.log?.(`sync ${def.name}: failed (${message}); tried again in ${BACKOFF_SECONDS / 60} minutes`);
      ran.push({ syncName: def.name, reason, error: message });
    } finally {
      clearInterval(renew);
    }
  }
  return ran;
}

async function recordFailure(db: Queryable, syncName: string, owner: string | null, message: string) {
  await db.query(
    `UPDATE sync_schedules SET lease_until = now() + make_interval(secs => $3), lease_owner = NULL,
            last_finished_at = now(), last_status = 'failed', last_error = $2
      WHERE sync_name = $1 AND ($4::text IS NULL OR lease_owner = $4)`,
    [syncName, message.slice(0, 2000), BACKOFF_SECONDS, owner],
  );
}

/** The loop `sluice serve` and `sluice sync watch` run: checks for due syncs every `intervalMs`. */
export function startSyncScheduler(
  db: Db,
  o: RunDueOptions & { intervalMs?: number; onError?: (err: unknown) => void },
): PollLoop {
  return startPollLoop(
    async () => {
      await runDueSyncs(db, o);
      return false;
    },
    { intervalMs: o.intervalMs ?? 5000, ...(o.onError ? { onError: o.onError } : {}) },
  );
}
