import type { Db } from './db.ts';

/**
 * PGlite runs no autovacuum, so dead rows (from merges, cache rewrites, queue churn) would pile up.
 * We VACUUM ANALYZE when a database is opened and the last one is older than `intervalMs`, and then every
 * `intervalMs` while the process lives. The timer never keeps the process alive.
 */
export interface VacuumSchedule {
  stop(): void;
  /** Runs one now; resolves when done. */
  runNow(): Promise<void>;
}

export async function scheduleVacuum(db: Db, intervalMs = 60 * 60 * 1000): Promise<VacuumSchedule> {
  const run = async () => {
    await db.exec('VACUUM ANALYZE');
    await db.query(
      `INSERT INTO sluice_maintenance (task, last_run_at) VALUES ('vacuum', now())
       ON CONFLICT (task) DO UPDATE SET last_run_at = excluded.last_run_at`,
    );
  };
  const last = await db.query<{ last_run_at: Date }>(
    `SELECT last_run_at FROM sluice_maintenance WHERE task = 'vacuum'`,
  );
  const lastAt = last.rows[0]?.last_run_at?.getTime() ?? 0;
  if (Date.now() - lastAt > intervalMs) await run();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    run()
      .catch(() => {})
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), runNow: run };
}
