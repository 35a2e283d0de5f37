import type { Db } from '../db/db.ts';
import { PRESENCE_INTERVAL_MS } from './presence.ts';

export interface Health {
  status: 'ok' | 'degraded' | 'down';
  database: { ok: boolean; backend: string; latencyMs: number | null; error?: string };
  queue: {
    queuedRuns: number;
    runningRuns: number;
    oldestQueuedSeconds: number | null;
    pendingDeliveries: number;
    pendingHookEvents: number;
  };
  /**
   * Processes (`sluice serve`, `sluice worker`) that said they were alive in the last 30 s; `working`:
   * those that work runs (a `serve --workers 0` does not).
   */
  workers: { seen: number; serve: number; worker: number; working: number };
}

/**
 * What `/health` and `sluice status` report: the database answers, how much waits and since when,
 * and which workers were seen recently. `down` when the database does not answer; `degraded` when
 * runs wait and no process that works runs has been seen.
 */
export async function readHealth(db: Db): Promise<Health> {
  const started = performance.now();
  try {
    const r = await db.query<{
      queued: number;
      running: number;
      oldest: number | null;
      deliveries: number;
      hooks: number;
      serve: number;
      worker: number;
      working: number;
    }>(
      `SELECT (SELECT count(*) FROM runs WHERE state = 'queued')::int AS queued,
              (SELECT count(*) FROM runs WHERE state = 'running')::int AS running,
              (SELECT extract(epoch FROM now() - min(updated_at)) FROM runs WHERE state = 'queued')::float8 AS oldest,
              (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending')::int AS deliveries,
              (SELECT count(*) FROM hook_events WHERE state = 'pending')::int AS hooks,
              (SELECT count(*) FROM worker_presence WHERE kind = 'serve' AND seen_at > now() - make_interval(secs => $1))::int AS serve,
              (SELECT count(*) FROM worker_presence WHERE kind = 'worker' AND seen_at > now() - make_interval(secs => $1))::int AS worker,
              (SELECT count(*) FROM worker_presence WHERE runs > 0 AND seen_at > now() - make_interval(secs => $1))::int AS working`,
      [(PRESENCE_INTERVAL_MS * 3) / 1000],
    );
    const row = r.rows[0]!;
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    const seen = row.serve + row.worker;
    return {
      status: row.queued > 0 && row.working === 0 ? 'degraded' : 'ok',
      database: { ok: true, backend: db.backend, latencyMs },
      queue: {
        queuedRuns: row.queued,
        runningRuns: row.running,
        oldestQueuedSeconds: row.oldest === null ? null : Math.round(row.oldest),
        pendingDeliveries: row.deliveries,
        pendingHookEvents: row.hooks,
      },
      workers: { seen, serve: row.serve, worker: row.worker, working: row.working },
    };
  } catch (err) {
    return {
      status: 'down',
      database: { ok: false, backend: db.backend, latencyMs: null, error: (err as Error).message },
      queue: {
        queuedRuns: 0,
        runningRuns: 0,
        oldestQueuedSeconds: null,
        pendingDeliveries: 0,
        pendingHookEvents: 0,
      },
      workers: { seen: 0, serve: 0, worker: 0, working: 0 },
    };
  }
}
