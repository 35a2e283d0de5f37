import type { Db } from '../db/db.ts';
import { prepared } from '../db/prepared.ts';
import { attemptsInFlight } from '../ledger/in-flight.ts';
import type { Logger } from '../logger.ts';

/**
 * The heartbeat of one gateway (owner): while it has calls in flight, every third of the lease it
 * renews, in one statement, the lease of each running call's attempt row and the expiry of its
 * in-flight marker. So a call slower than the lease keeps its marker (identical calls in other
 * processes keep waiting instead of paying again) and its attempt row (the reaper leaves it alone);
 * both lapse only when the call is no longer running: its owner died, or the call ended without
 * being able to record (a database outage longer than it waited). Only the rows of running calls
 * are renewed, so such a leftover marker expires and its attempt row is reaped (docs/gateway.md
 * "Attempts and the reaper").
 */
export interface LeaseKeeper {
  /** A call took a marker (its cache key) and/or an attempt row: renew them while it runs. */
  enter(held: Leased): void;
  /** That call ended (whatever happened to its rows). */
  leave(held: Leased): void;
  /** Renewals made (for tests and stats). */
  readonly renewals: number;
}

export interface Leased {
  /** Cache key of the call's in-flight marker, or null (none: PGlite). */
  markerKey: string | null;
  attemptId: number | null;
}

const RENEW = prepared(`
WITH a AS (
  UPDATE call_attempts SET lease_until = now() + $2::float8 * interval '1 millisecond'
  WHERE id = ANY($3::bigint[]) AND owner = $1 AND status = 'open' RETURNING 1
), m AS (
  UPDATE cache_inflight SET expires_at = now() + $2::float8 * interval '1 millisecond'
  WHERE key = ANY($4::text[]) AND owner = $1 RETURNING 1
)
SELECT (SELECT count(*) FROM a)::int AS attempts, (SELECT count(*) FROM m)::int AS markers`);

export function leaseKeeper(
  db: Db,
  owner: string,
  leaseMs: number,
  logger: Logger | undefined,
  /** PGlite: one process per data dir, nobody else waits on these rows; nothing to renew. */
  enabled: boolean,
): LeaseKeeper {
  const attempts = new Map<number, number>();
  const markers = new Map<string, number>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let running = false;
  const state = { renewals: 0 };
  const count = <K>(m: Map<K, number>, k: K, d: number) => {
    const n = (m.get(k) ?? 0) + d;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };
  const renew = () => {
    if (running) return;
    running = true;
    db.query(RENEW, [owner, leaseMs, [...attempts.keys()], [...markers.keys()]])
      .then(() => {
        state.renewals++;
      })
      .catch((err: unknown) => logger?.warn({ err }, 'renewing in-flight calls failed; retried'))
      .finally(() => {
        running = false;
      });
  };
  const idle = () => attempts.size === 0 && markers.size === 0;
  return {
    enter(held) {
      // The reaper of this process must know the row is running, whatever the backend.
      if (held.attemptId !== null) attemptsInFlight.add(held.attemptId);
      if (!enabled) return;
      const wasIdle = idle();
      if (held.attemptId !== null) count(attempts, held.attemptId, 1);
      if (held.markerKey !== null) count(markers, held.markerKey, 1);
      if (wasIdle && !idle()) {
        timer = setInterval(renew, Math.max(10, Math.floor(leaseMs / 3)));
        timer.unref?.();
      }
    },
    leave(held) {
      if (held.attemptId !== null) attemptsInFlight.delete(held.attemptId);
      if (!enabled) return;
      if (held.attemptId !== null) count(attempts, held.attemptId, -1);
      if (held.markerKey !== null) count(markers, held.markerKey, -1);
      if (idle()) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    get renewals() {
      return state.renewals;
    },
  };
}
