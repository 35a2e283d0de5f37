import type { Queryable } from '../db/db.ts';
import type { RateLimitSpec } from '../providers/define-provider.ts';

/**
 * Global rate limits with GCRA (generic cell rate algorithm) in Postgres. Each window (e.g. 15/s,
 * 500/min) is one row holding its theoretical arrival time (TAT). A call takes every window of its
 * provider and operation at once: it is scheduled at max(now, TAT of each window), and each TAT moves
 * to that time plus the window's interval. There is no burst allowance: calls are spaced evenly, so
 * no window of any length ever sees more than its limit, whichever process made the calls.
 */
export interface LimitWindow {
  key: string;
  intervalMs: number;
}

/**
 * Windows of one operation: the provider-wide ones and the operation's own.
 * `marginMs` widens every window a little: calls scheduled exactly one interval apart can arrive
 * closer than that (network jitter, a late timer), and a provider counting strictly would throttle.
 */
export function limitWindows(
  providerId: string,
  operationId: string,
  providerLimits: readonly RateLimitSpec[],
  operationLimits: readonly RateLimitSpec[] | undefined,
  marginMs: number,
): LimitWindow[] {
  const windows: LimitWindow[] = [];
  const add = (scope: string, l: RateLimitSpec) => {
    if (!(l.limit > 0) || !(l.windowMs > 0) || !Number.isFinite(l.limit)) return;
    windows.push({
      key: `${scope}:${l.limit}/${l.windowMs}ms`,
      intervalMs: (l.windowMs + marginMs) / l.limit,
    });
  };
  for (const l of providerLimits) add(providerId, l);
  for (const l of operationLimits ?? []) add(`${providerId}.${operationId}`, l);
  return windows.sort((a, b) => (a.key < b.key ? -1 : 1));
}

const ensured = new WeakMap<Queryable, Set<string>>();

async function ensureRows(db: Queryable, windows: readonly LimitWindow[]): Promise<void> {
  let seen = ensured.get(db);
  if (!seen) {
    seen = new Set();
    ensured.set(db, seen);
  }
  const missing = windows.filter((w) => !seen.has(w.key)).map((w) => w.key);
  if (missing.length === 0) return;
  await db.query(
    'INSERT INTO rate_limits (key) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (key) DO NOTHING',
    [missing],
  );
  for (const k of missing) seen.add(k);
}

// One statement: lock the windows' rows (in key order, so concurrent callers cannot deadlock), take the
// clock after the locks are held, schedule at max(now, TATs) and move every TAT, unless that is further
// away than the caller is willing to wait.
const ACQUIRE = `
WITH cfg AS (
  SELECT * FROM unnest($1::text[], $2::float8[]) AS c(key, interval_ms)
), cur AS (
  SELECT r.key, r.tat_ms, cfg.interval_ms FROM rate_limits r JOIN cfg ON cfg.key = r.key
  ORDER BY r.key FOR UPDATE OF r
), plan AS (
  SELECT greatest(x.now_ms, x.max_tat) AS at_ms, x.now_ms
  FROM (SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS now_ms,
               coalesce(max(tat_ms), 0) AS max_tat FROM cur) x
), upd AS (
  UPDATE rate_limits r SET tat_ms = plan.at_ms + cur.interval_ms + $4::float8
  FROM cur, plan
  WHERE r.key = cur.key AND plan.at_ms - plan.now_ms <= $3::float8
  RETURNING 1
)
SELECT plan.at_ms - plan.now_ms AS wait_ms, (SELECT count(*) FROM upd)::int AS taken,
       -- limiter state lost in a database crash costs nothing: no need to wait for the WAL flush
       set_config('synchronous_commit', 'off', true) AS async_commit
FROM plan`;

export type Acquired = { granted: true; waitMs: number } | { granted: false; waitMs: number };

/**
 * Takes one call's place in every window. `granted` with the time to sleep before calling, or not
 * granted (nothing reserved) when the wait would exceed `maxWaitMs`.
 */
export async function acquireRate(
  db: Queryable,
  windows: readonly LimitWindow[],
  maxWaitMs: number,
  /** Extra room before the next call (a cold first call may leave late). Default 0. */
  extraMs = 0,
): Promise<Acquired> {
  if (windows.length === 0) return { granted: true, waitMs: 0 };
  for (let tries = 0; ; tries++) {
    await ensureRows(db, windows);
    const res = await db.query<{ wait_ms: number; taken: number }>(ACQUIRE, [
      windows.map((w) => w.key),
      windows.map((w) => w.intervalMs),
      maxWaitMs,
      extraMs,
    ]);
    const row = res.rows[0]!;
    const waitMs = Math.max(0, row.wait_ms);
    if (row.taken === windows.length) return { granted: true, waitMs };
    if (waitMs > maxWaitMs || tries > 0) return { granted: false, waitMs };
    // Rows this process created are gone (someone emptied the table): create them again.
    ensured.delete(db);
  }
}

/** Calls per second the windows allow at most (the binding window), or Infinity. */
export function maxRatePerSecond(windows: readonly LimitWindow[]): number {
  const longest = Math.max(0, ...windows.map((w) => w.intervalMs));
  return longest > 0 ? 1000 / longest : Number.POSITIVE_INFINITY;
}
