import type { Queryable } from '../db/db.ts';
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

const sql = (claim: boolean, attempt: boolean, durable: boolean) => `
WITH hit AS (
  UPDATE cache_entries SET last_hit_at = now(), hits = hits + 1
  WHERE key = $1 AND NOT $4::boolean AND expires_at > now()
    AND ($10::float8 IS NULL OR created_at >= to_timestamp($10::float8 / 1000))
  RETURNING found, output, cost_usd, confidence
), led AS (
  INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, saved_usd, cache_key)
  SELECT $2, $3, $7, $8, 0, $9, CASE WHEN found THEN 'found' ELSE 'not_found' END, cost_usd, $1 FROM hit
), claim AS (${
  claim
    ? `
  INSERT INTO cache_inflight (key, owner, expires_at)
  SELECT $1, $5, now() + $6::float8 * interval '1 millisecond'
  WHERE NOT EXISTS (SELECT 1 FROM hit)
  ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
    WHERE cache_inflight.expires_at < now() OR cache_inflight.owner = EXCLUDED.owner
  RETURNING 1`
    : // $5 and $6 are still referenced so both variants take the same parameters.
      'SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM hit) AND $5::text IS NOT NULL AND $6::float8 IS NOT NULL'
}), res AS (
  UPDATE budgets SET reserved_usd = reserved_usd + $12::numeric, updated_at = now()
  WHERE scope = $11 AND $12::numeric > 0 AND EXISTS (SELECT 1 FROM claim)
    AND spent_usd + reserved_usd + $12::numeric <= limit_usd
  RETURNING 1
)${
  attempt
    ? `, att AS (
  INSERT INTO call_attempts (owner, provider, operation, cache_key, run_id, batch_id, cache, price_usd,
                             budget_scopes, reserved_usd, lease_ms, lease_until)
  SELECT $5, $2, $3, $1, $7, $8, $14, $12::numeric,
         CASE WHEN EXISTS (SELECT 1 FROM res) THEN ARRAY[$11::text] ELSE '{}'::text[] END,
         CASE WHEN EXISTS (SELECT 1 FROM res) THEN $12::numeric ELSE 0 END,
         $15::int, now() + $15::int * interval '1 millisecond'
  WHERE EXISTS (SELECT 1 FROM claim)
  RETURNING id
)`
    : ''
}
SELECT h.found, h.output, h.cost_usd, h.confidence,
       EXISTS (SELECT 1 FROM claim) AS leader,
       extract(epoch FROM clock_timestamp())::float8 * 1000 AS now_ms,
       coalesce(s.failures, 0) AS failures,
       extract(epoch FROM s.open_until)::float8 * 1000 AS open_until_ms,
       extract(epoch FROM s.paused_until)::float8 * 1000 AS paused_until_ms,
       extract(epoch FROM s.exhausted_until)::float8 * 1000 AS exhausted_until_ms,
       b.limit_usd AS batch_limit, b.spent_usd AS batch_spent, b.reserved_usd AS batch_reserved,
       EXISTS (SELECT 1 FROM res) AS reserved,
       ${attempt ? '(SELECT id FROM att)' : 'NULL::bigint'} AS attempt_id,
       -- Nothing written here must survive a crash of the database server (a hit's ledger row and LRU
       -- clock, the marker, the reservation and the attempt row that accounts for it, lost together),
       -- so this statement's commit does not wait for the WAL flush; the statement recording a paid
       -- call does. Other sessions see it at once, so a killed process's attempt row is there for the
       -- reaper. Except on PGlite, where the database dies with the process: there the attempt row
       -- must reach the WAL before the request (PGlite runs with fsync off, so that costs a write).
       ${durable ? 'NULL' : "set_config('synchronous_commit', 'off', true)"} AS async_commit
FROM (SELECT 1) AS one
LEFT JOIN hit h ON true
LEFT JOIN provider_state s ON s.provider = coalesce($13::text, $2)
LEFT JOIN budgets b ON b.scope = $11`;

const SQL = new Map<string, string>();
function statement(claim: boolean, attempt: boolean, durable: boolean): string {
  const id = `${claim}${attempt}${durable}`;
  let text = SQL.get(id);
  if (!text) {
    text = prepared(sql(claim, attempt, durable));
    SQL.set(id, text);
  }
  return text;
}

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

export async function preflight(db: Queryable, p: PreflightParams): Promise<Preflight> {
  const attempt = p.attempt !== undefined && p.reserveUsd > 0;
  const params: unknown[] = [
    p.key,
    p.provider,
    p.operation,
    p.refresh,
    p.owner,
    p.inflightTtlMs,
    p.runId,
    p.batchId,
    p.hitLabel,
    p.freshAfterMs,
    p.batchScope,
    p.reserveUsd,
    p.healthKey ?? null,
  ];
  if (attempt) params.push(p.attempt!.cache, Math.round(p.attempt!.leaseMs));
  const text = statement(p.claim !== false, attempt, attempt && p.attempt!.durable === true);
  const res = await db.query<Row>(text, params);
  const r = res.rows[0]!;
  return {
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
  };
}
