import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '../db/db.ts';

/** How often a process says it is alive; /health counts the ones seen within 3 × this. */
export const PRESENCE_INTERVAL_MS = 10_000;

/**
 * Records this process in `worker_presence` and refreshes it every 10 s until `stop()` (which removes
 * it). A SIGKILLed process simply stops being seen. Failures are retried on the next tick. `runs` is
 * how many runs it works at once (0: a `sluice serve --workers 0`, alive but not working the queue).
 */
export function startPresence(
  db: Db,
  kind: 'serve' | 'worker',
  runs: number,
  onError?: (err: unknown) => void,
) {
  const id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const beat = () =>
    db
      .query(
        `INSERT INTO worker_presence (id, kind, host, pid, runs) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET seen_at = now()`,
        [id, kind, hostname(), process.pid, runs],
      )
      .then(() => {})
      .catch((err: unknown) => onError?.(err));
  const first = beat();
  const timer = setInterval(beat, PRESENCE_INTERVAL_MS);
  timer.unref();
  return {
    id,
    ready: first,
    async stop() {
      clearInterval(timer);
      await db.query('DELETE FROM worker_presence WHERE id = $1', [id]).catch(() => {});
    },
  };
}
