import type { Db } from '../db/db.ts';
import type { Logger } from '../logger.ts';

/**
 * The heartbeat of one gateway (owner): while it has calls in flight, every third of the lease it
 * renews, in one statement, the lease of each of its open attempt rows and the expiry of each of its
 * in-flight markers. So a call slower than the lease keeps its marker (identical calls in other
 * processes keep waiting instead of paying again) and its attempt row (the reaper leaves it alone);
 * both lapse only when the owner stops renewing. See docs/gateway.md "Attempts and the reaper".
 */
export interface LeaseKeeper {
  /** A call took a marker or an attempt row: renew while at least one is held. */
  enter(): void;
  /** That call ended (whatever happened to its rows). */
  leave(): void;
  /** Renewals made (for tests and stats). */
  readonly renewals: number;
}

const RENEW = `
WITH a AS (
  UPDATE call_attempts SET lease_until = now() + $2::float8 * interval '1 millisecond'
  WHERE owner = $1 AND status = 'open' RETURNING 1
), m AS (
  UPDATE cache_inflight SET expires_at = now() + $2::float8 * interval '1 millisecond'
  WHERE owner = $1 RETURNING 1
)
SELECT (SELECT count(*) FROM a)::int AS attempts, (SELECT count(*) FROM m)::int AS markers`;

export function leaseKeeper(
  db: Db,
  owner: string,
  leaseMs: number,
  logger: Logger | undefined,
  /** PGlite: one process per data dir, nobody else waits on these rows; nothing to renew. */
  enabled: boolean,
): LeaseKeeper {
  let active = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let running = false;
  const state = { renewals: 0 };
  const renew = () => {
    if (running) return;
    running = true;
    db.query(RENEW, [owner, leaseMs])
      .then(() => {
        state.renewals++;
      })
      .catch((err: unknown) => logger?.warn({ err }, 'renewing in-flight calls failed; retried'))
      .finally(() => {
        running = false;
      });
  };
  return {
    enter() {
      if (!enabled || active++ > 0) return;
      timer = setInterval(renew, Math.max(10, Math.floor(leaseMs / 3)));
      timer.unref?.();
    },
    leave() {
      if (!enabled || --active > 0) return;
      clearInterval(timer);
      timer = undefined;
    },
    get renewals() {
      return state.renewals;
    },
  };
}
