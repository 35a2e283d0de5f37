import type { Queryable } from '../db/db.ts';
import { groupPerDb } from '../db/group-commit.ts';
import { prepared } from '../db/prepared.ts';

/**
 * The first statement of every call, in one round trip: a cache lookup (a hit also bumps the LRU
 * clock and writes its ledger row), on a miss the claim of the in-flight marker that makes this
 * caller the one who pays (with its reservation in the batch's budget and its durable attempt row),
 * and the provider's health.
 */
export interface PreflightParams {
  key: string;
  provider: string;
  operation: string;
  /** Skip the cache read (`--refresh`). */
  refresh: boolean;
  owner: string;
  inflightTtlMs: number;
  /**
   * Claim the in-flight marker row (several processes share the database). Without it the caller is
   * always the leader: single-process PGlite coalesces in memory. Default true.
   */
  claim?: boolean;
  runId: number | null;
  batchId: number | null;
  /** Ledger label of a hit: `hit`, or `coalesced` when a waiting follower finds the leader's entry. */
  hitLabel: 'hit' | 'coalesced';
  /** Only accept entries written at or after this epoch ms (a refreshing follower wants the new one). */
  freshAfterMs: number | null;
  /** `batch:<id>` when the call belongs to a batch. */
  batchScope: string | null;
  /**
   * The leader reserves this much in the batch's budget in the same statement (0: nothing). Refused
   * (nothing reserved) when spent + reserved + price would exceed the budget.
   */
  reserveUsd: number;
  /** provider_state row whose health is read (the call's account). Default `provider`. */
  healthKey?: string;
  /**
   * The leader writes its durable attempt row (call_attempts) in the same statement, before any
   * request: price `reserveUsd`, the batch reservation when taken, leased for `leaseMs`. Omitted for
   * free calls (nothing to lose or leak).
   */
  attempt?: {
    cache: 'miss' | 'refresh';
    leaseMs: number;
    /** Commit it durably (PGlite, whose WAL buffers die with the process). Default false. */
    durable?: boolean;
  };
}

export interface Preflight {
  hit: { found: boolean; output: unknown; costUsd: number; confidence: number | null } | undefined;
  /** This caller owns the in-flight marker and makes the call. */
  leader: boolean;
  /** Database clock, epoch ms: every worker compares against the same clock. */
  nowMs: number;
  failures: number;
  openUntilMs: number | null;
  pausedUntilMs: number | null;
  exhaustedUntilMs: number | null;
  /** The batch's budget when it has one, with what was spent and reserved before this call. */
  batchLimitUsd: number | null;
  batchSpentUsd: number;
  batchReservedUsd: number;
  /** `reserveUsd` was reserved in the batch's budget. */
  batchReserved: boolean;
  /** The attempt row this leader wrote (`attempt` given), else null. */
  attemptId: number | null;
}

/**
 * The statement, for a group of calls (group commit, src/db/group-commit.ts): the calls that start
 * while the previous group's statement runs share the next one, each its own row of `x`. What one
 * call's row decides (hit, marker, reservation, attempt row) is what the statement for that call
 * alone decided; the keys of a group are distinct (one statement cannot claim one marker twice).
 * Reservations in one budget are admitted in call order while spent + reserved + the prices so far
 * fit; a call refused only because others of its group went first is tried alone by the budget stage.
 */
const sql = (durable: boolean) => `
WITH x AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::float8[],
                       $7::boolean[], $8::bigint[], $9::bigint[], $10::text[], $11::float8[], $12::text[],
                       $13::numeric[], $14::text[], $15::boolean[], $16::text[], $17::int[])
    WITH ORDINALITY AS x(key, provider, operation, refresh, owner, ttl_ms, claim, run_id, batch_id,
                         hit_label, fresh_after_ms, batch_scope, reserve_usd, health_key, att, cache,
                         lease_ms, ord)
), hit AS (
  UPDATE cache_entries c SET last_hit_at = now(), hits = c.hits + 1
  FROM x
  WHERE c.key = x.key AND NOT x.refresh AND c.expires_at > now()
    AND (x.fresh_after_ms IS NULL OR c.created_at >= to_timestamp(x.fresh_after_ms / 1000))
  RETURNING x.ord, c.found, c.output, c.cost_usd, c.confidence
), led AS (
  INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, saved_usd, cache_key)
  SELECT x.provider, x.operation, x.run_id, x.batch_id, 0, x.hit_label,
         CASE WHEN h.found THEN 'found' ELSE 'not_found' END, h.cost_usd, x.key
  FROM hit h JOIN x ON x.ord = h.ord
), claim AS (
  INSERT INTO cache_inflight (key, owner, expires_at)
  SELECT x.key, x.owner, now() + x.ttl_ms * interval '1 millisecond' FROM x
  WHERE x.claim AND NOT EXISTS (SELECT 1 FROM hit WHERE hit.ord = x.ord)
  ORDER BY x.key
  ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
    WHERE cache_inflight.expires_at < now() OR cache_inflight.owner = EXCLUDED.owner
  RETURNING key
), leaders AS (
  -- Without a marker row (single-process PGlite coalesces in memory) a miss is always the leader.
  SELECT key FROM claim
  UNION ALL
  SELECT x.key FROM x WHERE NOT x.claim AND NOT EXISTS (SELECT 1 FROM hit WHERE hit.ord = x.ord)
), want AS (
  SELECT x.ord, x.batch_scope, x.reserve_usd,
         b.spent_usd + b.reserved_usd
           + sum(x.reserve_usd) OVER (PARTITION BY x.batch_scope ORDER BY x.ord) <= b.limit_usd AS fits
  FROM x JOIN leaders l ON l.key = x.key JOIN budgets b ON b.scope = x.batch_scope
  WHERE x.reserve_usd > 0
), res AS (
  UPDATE budgets b SET reserved_usd = b.reserved_usd + t.total, updated_at = now()
  FROM (SELECT batch_scope, sum(reserve_usd) AS total FROM want WHERE fits GROUP BY batch_scope) t
  WHERE b.scope = t.batch_scope AND b.spent_usd + b.reserved_usd + t.total <= b.limit_usd
  RETURNING b.scope
), reserved AS (
  SELECT w.ord FROM want w JOIN res r ON r.scope = w.batch_scope WHERE w.fits
), att AS (
  INSERT INTO call_attempts (owner, provider, operation, cache_key, run_id, batch_id, cache, price_usd,
                             budget_scopes, reserved_usd, lease_ms, lease_until)
  SELECT x.owner, x.provider, x.operation, x.key, x.run_id, x.batch_id, x.cache, x.reserve_usd,
         CASE WHEN r.ord IS NULL THEN '{}'::text[] ELSE ARRAY[x.batch_scope] END,
         CASE WHEN r.ord IS NULL THEN 0 ELSE x.reserve_usd END,
         x.lease_ms, now() + x.lease_ms * interval '1 millisecond'
  FROM x JOIN leaders l ON l.key = x.key LEFT JOIN reserved r ON r.ord = x.ord
  WHERE x.att
  RETURNING id, cache_key
)
SELECT x.ord, h.found, h.output, h.cost_usd, h.confidence,
       EXISTS (SELECT 1 FROM leaders l WHERE l.key = x.key) AS leader,
       extract(epoch FROM clock_timestamp())::float8 * 1000 AS now_ms,
       coalesce(s.failures, 0) AS failures,
       extract(epoch FROM s.open_until)::float8 * 1000 AS open_until_ms,
       extract(epoch FROM s.paused_until)::float8 * 1000 AS paused_until_ms,
       extract(epoch FROM s.exhausted_until)::float8 * 1000 AS exhausted_until_ms,
       b.limit_usd AS batch_limit, b.spent_usd AS batch_spent, b.reserved_usd AS batch_reserved,
       EXISTS (SELECT 1 FROM reserved r WHERE r.ord = x.ord) AS reserved,
       (SELECT a.id FROM att a WHERE a.cache_key = x.key) AS attempt_id,
       -- Nothing written here must survive a crash of the database server (a hit's ledger row and LRU
       -- clock, the marker, the reservation and the attempt row that accounts for it, lost together),
       -- so this statement's commit does not wait for the WAL flush; the statement recording a paid
       -- call does. Other sessions see it at once, so a killed process's attempt row is there for the
       -- reaper. Except on PGlite, where the database dies with the process: there the attempt row
       -- must reach the WAL before the request (PGlite runs with fsync off, so that costs a write).
       ${durable ? 'NULL' : "set_config('synchronous_commit', 'off', true)"} AS async_commit
FROM x
LEFT JOIN hit h ON h.ord = x.ord
LEFT JOIN provider_state s ON s.provider = coalesce(x.health_key, x.provider)
LEFT JOIN budgets b ON b.scope = x.batch_scope
ORDER BY x.ord`;

const DURABLE = prepared(sql(true));
const ASYNC = prepared(sql(false));

interface Row {
  found: boolean | null;
  output: unknown;
  cost_usd: number | null;
  confidence: number | null;
  leader: boolean;
  now_ms: number;
  failures: number;
  open_until_ms: number | null;
  paused_until_ms: number | null;
  exhausted_until_ms: number | null;
  batch_limit: number | null;
  batch_spent: number | null;
  batch_reserved: number | null;
  reserved: boolean;
  attempt_id: string | number | null;
}

/** Writes an attempt row: a paid call (a price to reserve and to count if its outcome is lost). */
const writesAttempt = (p: PreflightParams) => p.attempt !== undefined && p.reserveUsd > 0;

async function preflightGroup(db: Queryable, group: PreflightParams[]): Promise<Preflight[]> {
  const col = <V>(f: (p: PreflightParams) => V) => group.map(f);
  const durable = group.some((p) => writesAttempt(p) && p.attempt!.durable === true);
  const res = await db.query<Row>(durable ? DURABLE : ASYNC, [
    col((p) => p.key),
    col((p) => p.provider),
    col((p) => p.operation),
    col((p) => p.refresh),
    col((p) => p.owner),
    col((p) => p.inflightTtlMs),
    col((p) => p.claim !== false),
    col((p) => p.runId),
    col((p) => p.batchId),
    col((p) => p.hitLabel),
    col((p) => p.freshAfterMs),
    col((p) => p.batchScope),
    col((p) => p.reserveUsd),
    col((p) => p.healthKey ?? null),
    col(writesAttempt),
    col((p) => p.attempt?.cache ?? 'miss'),
    col((p) => Math.round(p.attempt?.leaseMs ?? 0)),
  ]);
  if (res.rows.length !== group.length)
    throw new Error(`preflight: ${res.rows.length} rows for a group of ${group.length}`);
  return res.rows.map((r) => ({
    hit:
      r.found === null
        ? undefined
        : { found: r.found, output: r.output, costUsd: r.cost_usd ?? 0, confidence: r.confidence },
    leader: r.leader,
    nowMs: r.now_ms,
    failures: r.failures,
    openUntilMs: r.open_until_ms,
    pausedUntilMs: r.paused_until_ms,
    exhaustedUntilMs: r.exhausted_until_ms,
    batchLimitUsd: r.batch_limit,
    batchSpentUsd: r.batch_spent ?? 0,
    batchReservedUsd: r.batch_reserved ?? 0,
    batchReserved: r.reserved,
    attemptId: r.attempt_id === null ? null : Number(r.attempt_id),
  }));
}

/** One group commit per database: every gateway of the process shares it. */

/**
 * The preflight of one call. It shares a statement with the other calls of this process that start
 * while the previous one runs (each call still gets exactly its own answer).
 */
export function preflight(db: Queryable, p: PreflightParams): Promise<Preflight> {
  return groups(db).add(p);
}

/** Calls in one statement at most. */
const MAX_GROUP = 256;
const groups = groupPerDb(preflightGroup, MAX_GROUP);
