import { createHash, randomBytes, randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db, SessionLock } from '../db/db.ts';

/** How often a lease owner looks for claims of owners that died. */
export const OWNER_SWEEP_MS = 2_000;

/**
 * The claiming process's identity on server Postgres (migration 0039). It holds a session-level
 * advisory lock for as long as it lives and is named in every claim it makes (`locked_by`). Postgres
 * releases a session's locks when the session ends, and a process killed with SIGKILL ends its
 * sessions with it (the kernel closes the sockets), so an owner whose lock is free is dead: its
 * pending claims are taken back at once, by the restarted process or by any live one, rather than
 * when their lease (`locked_until`) lapses. A live owner's lock is held, so its claims are never
 * taken from it: no delivery is sent twice by two live processes.
 *
 * If the lock's own connection drops while the process lives, other processes treat it as dead (its
 * in-flight attempts may then be repeated: receivers dedupe on `webhook-id`, as for any retry); the
 * owner claims without a name (lease only) until it holds a new lock under a new id.
 */
export interface LeaseOwner {
  /** The id to write into claims now; null while no lock is held (claims then rely on their lease). */
  current(): string | null;
  /** Takes back pending claims of dead owners now; returns how many. */
  sweep(): Promise<number>;
  /** Stops sweeping, removes this owner and releases its lock (after the loops stopped claiming). */
  stop(): Promise<void>;
}

/** Pending claims of owners whose lock is free go back to the queue; those owners are forgotten. */
const SWEEP = `
WITH dead AS (
  DELETE FROM lease_owners o
   WHERE o.id IS DISTINCT FROM $1
     AND NOT EXISTS (
       SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = o.lock_space::oid AND l.objid = o.lock_key::oid)
  RETURNING o.id),
deliveries AS (
  UPDATE webhook_deliveries SET locked_until = NULL, locked_by = NULL
   WHERE state = 'pending' AND locked_until IS NOT NULL AND locked_by IN (SELECT id FROM dead)
  RETURNING 1),
events AS (
  UPDATE hook_events SET locked_until = NULL, locked_by = NULL
   WHERE state = 'pending' AND locked_until IS NOT NULL AND locked_by IN (SELECT id FROM dead)
  RETURNING 1)
SELECT (SELECT count(*) FROM deliveries)::int + (SELECT count(*) FROM events)::int AS n`;

/** The lock space of a schema: owners of different schemas on one database never share a key. */
function lockSpace(schema: string): number {
  return createHash('sha256').update(`sluice-lease-owner:${schema}`).digest().readUInt32BE(0) & 0x7fffffff;
}

/**
 * Registers this process as a lease owner (server Postgres: `db.holdSessionLock`), takes back the
 * claims dead owners left, and sweeps every `sweepMs`. Undefined on a database without session locks
 * (PGlite: one process owns it, and `sluice serve` releases every claim when it starts).
 */
export async function startLeaseOwner(
  db: Db,
  o: { sweepMs?: number; onError?: (err: unknown) => void } = {},
): Promise<(LeaseOwner & { reclaimedAtStart: number }) | undefined> {
  if (!db.holdSessionLock) return undefined;
  const space = lockSpace(db.schema);
  let id: string | null = null;
  let lock: SessionLock | undefined;
  let stopped = false;

  const acquire = async (): Promise<void> => {
    for (let tries = 0; tries < 5 && !lock; tries++) {
      const key = randomInt(1, 0x7fffffff);
      lock = await db.holdSessionLock!(space, key);
      if (!lock) continue; // that key is another session's: draw again
      const newId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
      // the row after the lock: a sweeper that sees the row also sees the lock held
      try {
        await db.query(
          'INSERT INTO lease_owners (id, lock_space, lock_key, host, pid) VALUES ($1, $2, $3, $4, $5)',
          [newId, space, key, hostname(), process.pid],
        );
      } catch (err) {
        await lock.release();
        lock = undefined;
        throw err;
      }
      id = newId;
      const held = lock;
      void held.lost.then(() => {
        if (lock !== held) return;
        // the lock's connection is gone: others see this owner as dead from now on
        lock = undefined;
        id = null;
        if (!stopped)
          o.onError?.(new Error('lease owner: the advisory lock connection was lost; taking a new lock'));
      });
    }
  };

  await acquire();
  const sweep = async () => (await db.query<{ n: number }>(SWEEP, [id])).rows[0]?.n ?? 0;
  const reclaimedAtStart = await sweep();
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = (async () => {
      try {
        if (!lock) await acquire();
        await sweep();
      } catch (err) {
        o.onError?.(err);
      }
    })();
  }, o.sweepMs ?? OWNER_SWEEP_MS);
  timer.unref();

  return {
    reclaimedAtStart,
    current: () => id,
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      const was = id;
      id = null;
      if (was) await db.query('DELETE FROM lease_owners WHERE id = $1', [was]).catch(() => {});
      await lock?.release();
      lock = undefined;
    },
  };
}
