import { hostname } from 'node:os';
import type { Db, Queryable } from '../db/db.ts';
import { attemptsInFlight } from './in-flight.ts';

/**
 * The reaper settles the paid calls whose owner died (docs/gateway.md "Attempts and the reaper").
 * Every paid call has an attempt row (call_attempts) from before its request until the statement
 * that records its outcome. A row whose owner is gone is turned `unknown`: the provider may have
 * answered and billed, so its price counts as spent, its budget reservation is released, its
 * in-flight marker and concurrency slots are freed, and a ledger row `unknown` says so
 * (`sluice ledger --unknown`).
 *
 * "Gone" is decided safely, never by age alone:
 * - an owner on this host whose pid no longer exists is dead (SIGKILL, crash);
 * - on PGlite (one process per data dir, held by a lock file) every owner but this process is dead;
 * - a row of this process is settled once its lease lapsed and its call is no longer running
 *   (src/ledger/in-flight.ts): the call ended without recording, because the database was gone;
 * - otherwise an owner is dead when it stopped renewing its lease (src/gateway/lease.ts renews every
 *   third of it) AND this reaper has seen the database reachable for a whole lease: after an outage
 *   every live owner first gets the time to renew. An owner that was only cut off and comes back
 *   still records its outcome, and that record corrects the budgets (src/ledger/record-attempt.ts).
 */
export interface ReapOptions {
  /** How long this reaper has seen the database reachable without a break, in ms (see above). */
  uptimeMs: number;
  /** Defaults: this process. */
  host?: string;
  pid?: number;
  backend?: Db['backend'];
  /** Does this pid exist on this host? Default: process.kill(pid, 0). */
  pidAlive?: (pid: number) => boolean;
}

export interface Reaped {
  /** Attempts turned `unknown`. */
  attempts: number;
  /** Their price, counted as spent. */
  costUsd: number;
  owners: string[];
}

interface OwnerRow {
  owner: string;
  ids: (string | number)[];
  lease_ms: number;
  expired: boolean;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `host:pid:random` (src/gateway/create-gateway.ts). */
export function parseOwner(owner: string): { host: string; pid: number } | undefined {
  const m = /^(.*):(\d+):[^:]*$/.exec(owner);
  return m ? { host: m[1]!, pid: Number(m[2]) } : undefined;
}

const REAP = `
WITH att AS (
  UPDATE call_attempts SET status = 'unknown', reaped_at = now(),
    ledger_id = nextval(pg_get_serial_sequence('ledger', 'id'))
  WHERE status = 'open'
    AND (id = ANY($1::bigint[]) OR (id = ANY($2::bigint[]) AND lease_until < now()))
  RETURNING id, owner, provider, operation, cache_key, run_id, batch_id, cache, attempt, price_usd,
            budget_scopes, reserved_usd, ledger_id
), led AS (
  INSERT INTO ledger (id, provider, operation, run_id, batch_id, attempt, cache, status, cost_usd,
                      error_class, error, cache_key)
  OVERRIDING SYSTEM VALUE
  SELECT ledger_id, provider, operation, run_id, batch_id, attempt, cache, 'unknown', price_usd, 'unknown',
         'the process making this call (' || owner || ') died before recording its outcome; the provider may have answered and billed it, so its price is counted as spent',
         cache_key
  FROM att
), bud AS (
  UPDATE budgets b SET spent_usd = b.spent_usd + x.price,
                       reserved_usd = greatest(0, b.reserved_usd - x.reserved), updated_at = now()
  FROM (SELECT s.scope, sum(a.price_usd) AS price, sum(a.reserved_usd) AS reserved
        FROM att a, unnest(a.budget_scopes) AS s(scope) GROUP BY s.scope) x
  WHERE b.scope = x.scope
), mark AS (
  DELETE FROM cache_inflight m USING att WHERE m.key = att.cache_key AND m.owner = att.owner
), slot AS (
  UPDATE concurrency_slots SET owner = NULL, expires_at = NULL
  WHERE owner IN (SELECT DISTINCT owner FROM att)
)
SELECT count(*)::int AS n, coalesce(sum(price_usd), 0)::float8 AS usd,
       coalesce(array_agg(DISTINCT owner), '{}') AS owners
FROM att`;

/** One pass: finds the open attempts of dead owners and turns them `unknown` in one statement. */
export async function reapAttempts(
  db: Queryable & { backend?: Db['backend'] },
  o: ReapOptions,
): Promise<Reaped> {
  const host = o.host ?? hostname();
  const pid = o.pid ?? process.pid;
  const backend = o.backend ?? db.backend ?? 'postgres';
  const alive = o.pidAlive ?? pidExists;
  const owners = await db.query<OwnerRow>(
    `SELECT owner, array_agg(id) AS ids, max(lease_ms)::int AS lease_ms, max(lease_until) < now() AS expired
     FROM call_attempts WHERE status = 'open' GROUP BY owner`,
  );
  const certain: number[] = [];
  const leased: number[] = [];
  for (const row of owners.rows) {
    const who = parseOwner(row.owner);
    const ids = row.ids.map(Number);
    const mine = who !== undefined && who.host === host && who.pid === pid;
    if (mine) {
      // This process: a row whose call is still running is left alone; one left behind by a call
      // that ended without recording (a database outage) is settled once its lease lapsed (REAP
      // checks each row's lease).
      leased.push(...ids.filter((id) => !attemptsInFlight.has(id)));
      continue;
    }
    if (backend === 'pglite' || (who !== undefined && who.host === host && !alive(who.pid)))
      certain.push(...ids);
    else if (row.expired && o.uptimeMs >= row.lease_ms) leased.push(...ids);
  }
  if (certain.length === 0 && leased.length === 0) return { attempts: 0, costUsd: 0, owners: [] };
  const r = await db.query<{ n: number; usd: number; owners: string[] }>(REAP, [certain, leased]);
  const x = r.rows[0]!;
  return { attempts: x.n, costUsd: x.usd, owners: x.owners };
}

export interface Reaper {
  /** Resolves when the loop has stopped. */
  stop(): Promise<void>;
  /** Runs one pass now (tests, `sluice status`). */
  runOnce(): Promise<Reaped>;
}

/**
 * Runs the reaper at start and every `intervalMs` (default 5 s, under a third of the default lease)
 * in workers and `sluice serve`. It keeps its own count of how long the database has been reachable
 * (a failed pass resets it), which the lease rule needs.
 */
export function startReaper(
  db: Db,
  options: {
    intervalMs?: number;
    onReaped?: (r: Reaped) => void;
    onError?: (err: unknown) => void;
  } = {},
): Reaper {
  const intervalMs = options.intervalMs ?? 5_000;
  let upSince: number | undefined;
  let running: Promise<Reaped> | undefined;
  const pass = (): Promise<Reaped> => {
    running ??= (async () => {
      try {
        const now = Date.now();
        const r = await reapAttempts(db, { uptimeMs: upSince === undefined ? 0 : now - upSince });
        upSince ??= now;
        if (r.attempts > 0) options.onReaped?.(r);
        return r;
      } catch (err) {
        upSince = undefined;
        throw err;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const tick = () => {
    pass().catch((err: unknown) => options.onError?.(err));
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref?.();
  return {
    runOnce: pass,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
