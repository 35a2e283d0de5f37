import type { Queryable } from '../db/db.ts';

/**
 * The one statement that ends an attempt. Its ledger row commits together with everything the
 * attempt changes (cache entry, in-flight marker, budget settlement, concurrency slot, provider
 * health), so a crash can never leave a paid call without its ledger row or its cache entry.
 */
export interface AttemptRecord {
  provider: string;
  operation: string;
  runId: number | null;
  batchId: number | null;
  cacheKey: string;
  /** Ledger row; omitted when only the side effects are wanted (e.g. abandoning after a circuit opened). */
  ledger?: {
    attempt: number;
    cache: 'miss' | 'refresh' | 'hit' | 'coalesced';
    status: 'found' | 'not_found' | 'error' | 'refused';
    httpStatus: number | null;
    costUsd: number;
    savedUsd?: number;
    latencyMs: number;
    errorClass: string | null;
    error: string | null;
  };
  /** Write (or overwrite) the cache entry. */
  cacheWrite?: {
    input: unknown;
    found: boolean;
    output: unknown;
    costUsd: number;
    confidence: number | null;
    ttlMs: number;
  };
  /** The call is over: drop the in-flight marker owned by `owner` and settle the budget reservation. */
  terminal: boolean;
  owner: string;
  /** Budget scopes to settle (spent += cost of this attempt; reserved -= `reservedUsd` when terminal). */
  budgetScopes: readonly string[];
  reservedUsd: number;
  /** Concurrency slot to give back. */
  slot: number | null;
  /**
   * Provider health change: `reset` after a success (closes the circuit), `fail` counts a failure
   * toward the circuit, `pause` pushes everybody back by `delayMs` (a throttle), `exhausted` marks the
   * quota used up for `delayMs`.
   */
  health: 'none' | 'reset' | 'fail' | 'pause' | 'exhausted';
  delayMs?: number;
  failureThreshold: number;
  cooldownMs: number;
  /** Rate-limiter keys to push back on `pause`. */
  limiterKeys?: readonly string[];
}

const SQL = `
WITH led AS (
  INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, http_status,
                      cost_usd, saved_usd, latency_ms, error_class, error, cache_key)
  SELECT $1, $2, $3, $4, $5::int, $6, $7, $8::int, $9::numeric, $10::numeric, $11::int, $12, $13, $14
  WHERE $7::text IS NOT NULL
), ent AS (
  INSERT INTO cache_entries (key, provider, operation, input, found, output, cost_usd, confidence, expires_at)
  SELECT $14, $1, $2, $15::jsonb, $16::boolean, $17::jsonb, $18::numeric, $19::real,
         now() + $20::float8 * interval '1 millisecond'
  WHERE $20::float8 IS NOT NULL
  ON CONFLICT (key) DO UPDATE SET input = EXCLUDED.input, found = EXCLUDED.found, output = EXCLUDED.output,
    cost_usd = EXCLUDED.cost_usd, confidence = EXCLUDED.confidence, created_at = now(),
    expires_at = EXCLUDED.expires_at, last_hit_at = now()
), mark AS (
  DELETE FROM cache_inflight WHERE $21::boolean AND key = $14 AND owner = $22
), bud AS (
  UPDATE budgets SET spent_usd = spent_usd + coalesce($9::numeric, 0),
                     reserved_usd = greatest(0, reserved_usd - $23::numeric), updated_at = now()
  WHERE scope = ANY($24::text[])
), slot AS (
  UPDATE concurrency_slots SET owner = NULL, expires_at = NULL
  WHERE $25::int IS NOT NULL AND provider = $1 AND slot = $25::int AND owner = $22
), health AS (
  INSERT INTO provider_state AS s (provider, failures, open_until, paused_until, exhausted_until, last_error)
  SELECT $1,
         CASE WHEN $26 = 'fail' THEN 1 ELSE 0 END,
         CASE WHEN $26 = 'fail' AND $27::int <= 1 THEN now() + $28::float8 * interval '1 millisecond' END,
         CASE WHEN $26 = 'pause' THEN now() + $29::float8 * interval '1 millisecond' END,
         CASE WHEN $26 = 'exhausted' THEN now() + $29::float8 * interval '1 millisecond' END,
         $13
  WHERE $26 IN ('fail', 'pause', 'exhausted')
  ON CONFLICT (provider) DO UPDATE SET
    failures = CASE WHEN $26 = 'fail' THEN s.failures + 1 ELSE s.failures END,
    open_until = CASE WHEN $26 = 'fail' AND s.failures + 1 >= $27::int
                      THEN now() + $28::float8 * interval '1 millisecond' ELSE s.open_until END,
    paused_until = CASE WHEN $26 = 'pause' THEN greatest(s.paused_until, EXCLUDED.paused_until)
                        ELSE s.paused_until END,
    exhausted_until = CASE WHEN $26 = 'exhausted' THEN EXCLUDED.exhausted_until ELSE s.exhausted_until END,
    last_error = EXCLUDED.last_error, updated_at = now()
  RETURNING extract(epoch FROM open_until)::float8 * 1000 AS open_until_ms
), reset AS (
  UPDATE provider_state SET failures = 0, open_until = NULL, updated_at = now()
  WHERE $26 = 'reset' AND provider = $1 AND (failures > 0 OR open_until IS NOT NULL)
), push AS (
  UPDATE rate_limits SET tat_ms = greatest(tat_ms, extract(epoch FROM clock_timestamp())::float8 * 1000 + $29::float8)
  WHERE $26 = 'pause' AND key = ANY($30::text[])
)
SELECT (SELECT open_until_ms FROM health) AS open_until_ms,
       extract(epoch FROM clock_timestamp())::float8 * 1000 AS now_ms`;

export interface AttemptRecorded {
  /** Set when this failure opened (or kept open) the provider's circuit: epoch ms of the DB clock. */
  openUntilMs: number | null;
  nowMs: number;
}

export async function recordAttempt(db: Queryable, r: AttemptRecord): Promise<AttemptRecorded> {
  const l = r.ledger;
  const c = r.cacheWrite;
  const res = await db.query<{ open_until_ms: number | null; now_ms: number }>(SQL, [
    r.provider,
    r.operation,
    r.runId,
    r.batchId,
    l?.attempt ?? 0,
    l?.cache ?? 'miss',
    l?.status ?? null,
    l?.httpStatus ?? null,
    l?.costUsd ?? 0,
    l?.savedUsd ?? 0,
    Math.round(l?.latencyMs ?? 0),
    l?.errorClass ?? null,
    l?.error ?? null,
    r.cacheKey,
    c ? JSON.stringify(c.input ?? null) : null,
    c?.found ?? null,
    c ? JSON.stringify(c.output ?? null) : null,
    c?.costUsd ?? 0,
    c?.confidence ?? null,
    c && c.ttlMs > 0 ? c.ttlMs : null,
    r.terminal,
    r.owner,
    r.terminal ? r.reservedUsd : 0,
    r.budgetScopes,
    r.slot,
    r.health,
    r.failureThreshold,
    r.cooldownMs,
    r.delayMs ?? 0,
    r.limiterKeys ?? [],
  ]);
  const row = res.rows[0];
  return { openUntilMs: row?.open_until_ms ?? null, nowMs: row?.now_ms ?? Date.now() };
}
