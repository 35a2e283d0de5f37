import type { Queryable } from '../db/db.ts';
import { groupPerDb } from '../db/group-commit.ts';
import { prepared } from '../db/prepared.ts';
import { redactSecrets } from '../secrets/redact.ts';

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
  /** Whether the call holds an in-flight marker row (not on single-process PGlite). Default true. */
  marker?: boolean;
  /** Budget scopes to settle (spent += cost of this attempt; reserved -= `reservedUsd` when terminal). */
  budgetScopes: readonly string[];
  reservedUsd: number;
  /** Concurrency slot to give back. */
  slot: number | null;
  /**
   * The call's durable attempt row (call_attempts). A terminal record deletes it; if the reaper had
   * already given up on this owner (row `unknown`: price counted as spent, reservation released), the
   * record corrects the budgets to the real cost instead of releasing twice. Null: free call.
   */
  attemptId?: number | null;
  /**
   * Provider health change: `reset` after a success (closes the circuit), `fail` counts a failure
   * toward the circuit, `pause` pushes everybody back by `delayMs` (a throttle), `exhausted` marks the
   * quota used up for `delayMs`.
   */
  health: 'none' | 'reset' | 'fail' | 'pause' | 'exhausted';
  delayMs?: number;
  failureThreshold: number;
  cooldownMs: number;
  /** provider_state row the health change applies to (the call's account). Default `provider`. */
  healthKey?: string;
  /** Rate-limiter keys to push back on `pause`. */
  limiterKeys?: readonly string[];
  /**
   * Wait for the WAL flush before returning (default true). Only rows that record no payment (a
   * coalesced follower's ledger row) may skip it: a database crash could lose them, nothing else.
   */
  durable?: boolean;
}

/** Collects parameters and hands out their `$n` placeholders, so each statement variant numbers its own. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
  /** A parameter numbered on first use (an unreferenced parameter would have no type). */
  lazy(value: unknown, cast: string): () => string {
    let placeholder: string | undefined;
    return () => {
      placeholder ??= this.add(value, cast);
      return placeholder;
    };
  }
}

/**
 * Builds the statement with only the parts this attempt needs (a plain successful miss is a ledger
 * insert, a cache upsert and a marker delete): fewer CTEs plan and run faster on the hot path.
 */
function build(r: AttemptRecord): { text: string; values: unknown[] } {
  const p = new Params();
  const provider = p.lazy(r.provider, 'text');
  const healthKey = r.healthKey === undefined ? provider : p.lazy(r.healthKey, 'text');
  const operation = p.lazy(r.operation, 'text');
  const key = p.lazy(r.cacheKey, 'text');
  const owner = p.lazy(r.owner, 'text');
  const l = r.ledger;
  // Error text is stored and shown (dlq show, the dashboard): scrubbed whatever raised it.
  const errorText = p.lazy(l?.error == null ? null : redactSecrets(l.error), 'text');
  const ctes: string[] = [];
  const attemptId = r.attemptId ?? null;
  const settles = attemptId !== null && r.terminal;
  if (settles) {
    ctes.push(`att AS (DELETE FROM call_attempts WHERE id = ${p.add(attemptId, 'bigint')}
  RETURNING status = 'unknown' AS reaped, price_usd, ledger_id)`);
    // Reaped while this owner was still alive (its lease lapsed): the reaper's ledger row `unknown`
    // no longer counts, this record has the real outcome.
    ctes.push(`late AS (
  UPDATE ledger SET cost_usd = 0, error = left(error || ' Its owner recorded the outcome later.', 1000)
  WHERE id = (SELECT ledger_id FROM att WHERE reaped))`);
  } else if (attemptId !== null && l) {
    ctes.push(
      `att AS (UPDATE call_attempts SET attempt = attempt + 1 WHERE id = ${p.add(attemptId, 'bigint')})`,
    );
  }
  // The terminal record of a paid call is fenced by its attempt row: it writes the ledger row and
  // settles the budgets only if it is the statement that deletes that row. So running it again after
  // an ambiguous failure (the connection dropped after the commit, src/gateway/record.ts waits the
  // outage out and retries) records the call once; the cache upsert and the releases are idempotent.
  const fence = settles ? '\n  WHERE EXISTS (SELECT 1 FROM att)' : '';
  if (l) {
    ctes.push(`led AS (
  INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, http_status,
                      cost_usd, saved_usd, latency_ms, error_class, error, cache_key)
  SELECT ${provider()}, ${operation()}, ${p.add(r.runId, 'bigint')}, ${p.add(r.batchId, 'bigint')},
         ${p.add(l.attempt, 'int')}, ${p.add(l.cache, 'text')}, ${p.add(l.status, 'text')},
         ${p.add(l.httpStatus, 'int')}, ${p.add(l.costUsd, 'numeric')}, ${p.add(l.savedUsd ?? 0, 'numeric')},
         ${p.add(Math.round(l.latencyMs), 'int')}, ${p.add(l.errorClass, 'text')}, ${errorText()}, ${key()}${fence})`);
  }
  const c = r.cacheWrite;
  if (c && c.ttlMs > 0) {
    ctes.push(`ent AS (
  INSERT INTO cache_entries (key, provider, operation, input, found, output, cost_usd, confidence, expires_at)
  VALUES (${key()}, ${provider()}, ${operation()}, ${p.add(JSON.stringify(c.input ?? null), 'jsonb')},
          ${p.add(c.found, 'boolean')}, ${p.add(JSON.stringify(c.output ?? null), 'jsonb')},
          ${p.add(c.costUsd, 'numeric')}, ${p.add(c.confidence, 'real')},
          now() + ${p.add(c.ttlMs, 'float8')} * interval '1 millisecond')
  ON CONFLICT (key) DO UPDATE SET input = EXCLUDED.input, found = EXCLUDED.found, output = EXCLUDED.output,
    cost_usd = EXCLUDED.cost_usd, confidence = EXCLUDED.confidence, created_at = now(),
    expires_at = EXCLUDED.expires_at, last_hit_at = now())`);
  }
  if (r.terminal && r.marker !== false)
    ctes.push(`mark AS (DELETE FROM cache_inflight WHERE key = ${key()} AND owner = ${owner()})`);
  const cost = l?.costUsd ?? 0;
  const release = r.terminal ? r.reservedUsd : 0;
  if (r.budgetScopes.length > 0 && (cost > 0 || release > 0 || settles)) {
    const spent = settles
      ? `${p.add(cost, 'numeric')} - coalesce((SELECT price_usd FROM att WHERE reaped), 0)`
      : p.add(cost, 'numeric');
    const released = settles
      ? `CASE WHEN EXISTS (SELECT 1 FROM att WHERE reaped) THEN 0 ELSE ${p.add(release, 'numeric')} END`
      : p.add(release, 'numeric');
    ctes.push(`bud AS (
  UPDATE budgets SET spent_usd = spent_usd + ${spent},
                     reserved_usd = greatest(0, reserved_usd - ${released}), updated_at = now()
  WHERE scope = ANY(${p.add(r.budgetScopes, 'text[]')})${fence.replace('WHERE', 'AND')})`);
  }
  if (r.slot !== null) {
    ctes.push(`slot AS (
  UPDATE concurrency_slots SET owner = NULL, expires_at = NULL
  WHERE provider = ${provider()} AND slot = ${p.add(r.slot, 'int')} AND owner = ${owner()})`);
  }
  let result = 'NULL::float8';
  const delay = r.delayMs ?? 0;
  if (r.health === 'fail') {
    const threshold = p.add(r.failureThreshold, 'int');
    const cooldown = p.add(r.cooldownMs, 'float8');
    ctes.push(`health AS (
  INSERT INTO provider_state AS s (provider, failures, open_until, last_error)
  VALUES (${healthKey()}, 1, CASE WHEN ${threshold} <= 1 THEN now() + ${cooldown} * interval '1 millisecond' END, ${errorText()})
  ON CONFLICT (provider) DO UPDATE SET failures = s.failures + 1,
    open_until = CASE WHEN s.failures + 1 >= ${threshold} THEN now() + ${cooldown} * interval '1 millisecond'
                      ELSE s.open_until END,
    last_error = EXCLUDED.last_error, updated_at = now()
  RETURNING extract(epoch FROM open_until)::float8 * 1000 AS open_until_ms)`);
    result = '(SELECT open_until_ms FROM health)';
  } else if (r.health === 'pause' || r.health === 'exhausted') {
    const column = r.health === 'pause' ? 'paused_until' : 'exhausted_until';
    const until = `now() + ${p.add(delay, 'float8')} * interval '1 millisecond'`;
    const merge =
      r.health === 'pause' ? 'greatest(s.paused_until, EXCLUDED.paused_until)' : 'EXCLUDED.exhausted_until';
    ctes.push(`health AS (
  INSERT INTO provider_state AS s (provider, ${column}, last_error) VALUES (${healthKey()}, ${until}, ${errorText()})
  ON CONFLICT (provider) DO UPDATE SET ${column} = ${merge}, last_error = EXCLUDED.last_error, updated_at = now())`);
    if (r.health === 'pause' && (r.limiterKeys?.length ?? 0) > 0) {
      // A throttle also pushes the provider's rate limiters back, for every process.
      ctes.push(`push AS (
  UPDATE rate_limits SET tat_ms = greatest(tat_ms, extract(epoch FROM clock_timestamp())::float8 * 1000 + ${p.add(delay, 'float8')})
  WHERE key = ANY(${p.add(r.limiterKeys, 'text[]')}))`);
    }
  } else if (r.health === 'reset') {
    ctes.push(`reset AS (
  UPDATE provider_state SET failures = 0, open_until = NULL, updated_at = now()
  WHERE provider = ${healthKey()} AND (failures > 0 OR open_until IS NOT NULL))`);
  }
  const asyncCommit =
    r.durable === false ? ", set_config('synchronous_commit', 'off', true) AS async_commit" : '';
  const select = `SELECT ${result} AS open_until_ms, extract(epoch FROM clock_timestamp())::float8 * 1000 AS now_ms${asyncCommit}`;
  const text = `${ctes.length > 0 ? `WITH ${ctes.join(',\n')}\n` : ''}${select}`;
  // Every value is a parameter: the variants are a bounded set of texts.
  return { text: prepared(text), values: p.values };
}

export interface AttemptRecorded {
  /** Set when this failure opened (or kept open) the provider's circuit: epoch ms of the DB clock. */
  openUntilMs: number | null;
  nowMs: number;
}

/**
 * Writes one attempt record. The common ones (a terminal record with its ledger row and no health
 * change or slot: a result, a refusal; a coalesced follower's row) share one statement with the other
 * calls of this process recording at the same time (group commit, src/db/group-commit.ts); the rest
 * (failures counted toward the circuit, throttles, slots) run their own statement.
 */
export async function recordAttempt(db: Queryable, r: AttemptRecord): Promise<AttemptRecorded> {
  if (groupable(r)) return groupFor(db).add(r);
  const { text, values } = build(r);
  const res = await db.query<{ open_until_ms: number | null; now_ms: number }>(text, values);
  const row = res.rows[0];
  return { openUntilMs: row?.open_until_ms ?? null, nowMs: row?.now_ms ?? Date.now() };
}

function groupable(r: AttemptRecord): boolean {
  return (
    r.ledger !== undefined &&
    r.health === 'none' &&
    r.slot === null &&
    (r.limiterKeys?.length ?? 0) === 0 &&
    // A non-terminal record of a paid call also counts its attempt on the attempt row.
    (r.terminal || (r.attemptId ?? null) === null)
  );
}

const groups = groupPerDb(
  (db: Queryable, part: (AttemptRecord & { key: string })[]) => recordGroup(db, part),
  256,
);

function groupFor(db: Queryable) {
  const group = groups(db);
  return {
    add: (r: AttemptRecord) => group.add({ ...r, key: r.cacheKey }),
  };
}

/**
 * The statement of `build` for a group of groupable records, one row of `x` each, every part per row
 * as it would be alone: the attempt row deleted (and a reaped one's `unknown` ledger row corrected),
 * the ledger row and the budget settlement fenced by that delete, the cache entry upserted, the
 * marker dropped. Budget scopes come as (row, scope) pairs; each scope is updated once, with the sum
 * of its rows.
 */
const groupSql = (durable: boolean) => `
WITH x AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
                       $7::boolean[], $8::bigint[], $9::bigint[], $10::int[], $11::text[], $12::text[],
                       $13::int[], $14::numeric[], $15::numeric[], $16::int[], $17::text[], $18::text[],
                       $19::boolean[], $20::jsonb[], $21::boolean[], $22::jsonb[], $23::numeric[],
                       $24::real[], $25::float8[], $26::numeric[])
    WITH ORDINALITY AS x(attempt_id, provider, operation, key, owner, terminal, marker, run_id, batch_id,
                         attempt, cache, status, http_status, cost_usd, saved_usd, latency_ms,
                         error_class, error, cache_write, input, found, output, entry_cost_usd,
                         confidence, ttl_ms, reserved_usd, ord)
), att AS (
  DELETE FROM call_attempts a USING x WHERE a.id = x.attempt_id AND x.terminal
  RETURNING x.ord, a.status = 'unknown' AS reaped, a.price_usd, a.ledger_id
), late AS (
  UPDATE ledger l SET cost_usd = 0, error = left(l.error || ' Its owner recorded the outcome later.', 1000)
  FROM att WHERE att.reaped AND l.id = att.ledger_id
), ok AS (
  -- The record of a paid call goes ahead only in the statement that deletes its attempt row.
  SELECT x.*, att.reaped, att.price_usd AS reaped_price FROM x LEFT JOIN att ON att.ord = x.ord
  WHERE x.attempt_id IS NULL OR att.ord IS NOT NULL
), led AS (
  INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, http_status,
                      cost_usd, saved_usd, latency_ms, error_class, error, cache_key)
  SELECT provider, operation, run_id, batch_id, attempt, cache, status, http_status, cost_usd,
         saved_usd, latency_ms, error_class, error, key
  FROM ok ORDER BY ord
), ent AS (
  INSERT INTO cache_entries (key, provider, operation, input, found, output, cost_usd, confidence, expires_at)
  SELECT key, provider, operation, input, found, output, entry_cost_usd, confidence,
         now() + ttl_ms * interval '1 millisecond'
  FROM x WHERE cache_write ORDER BY key
  ON CONFLICT (key) DO UPDATE SET input = EXCLUDED.input, found = EXCLUDED.found, output = EXCLUDED.output,
    cost_usd = EXCLUDED.cost_usd, confidence = EXCLUDED.confidence, created_at = now(),
    expires_at = EXCLUDED.expires_at, last_hit_at = now()
), mark AS (
  DELETE FROM cache_inflight m USING x WHERE x.terminal AND x.marker AND m.key = x.key AND m.owner = x.owner
), bud AS (
  UPDATE budgets b SET spent_usd = b.spent_usd + t.spent,
                       reserved_usd = greatest(0, b.reserved_usd - t.released), updated_at = now()
  FROM (
    SELECT s.scope,
           sum(ok.cost_usd - CASE WHEN ok.reaped THEN ok.reaped_price ELSE 0 END) AS spent,
           sum(CASE WHEN ok.reaped OR NOT ok.terminal THEN 0 ELSE ok.reserved_usd END) AS released
    FROM unnest($27::bigint[], $28::text[]) AS s(ord, scope) JOIN ok ON ok.ord = s.ord
    GROUP BY s.scope
  ) t
  WHERE b.scope = t.scope
)
SELECT NULL::float8 AS open_until_ms, extract(epoch FROM clock_timestamp())::float8 * 1000 AS now_ms${
  durable ? '' : ", set_config('synchronous_commit', 'off', true) AS async_commit"
}`;

const GROUP_DURABLE = prepared(groupSql(true));
const GROUP_ASYNC = prepared(groupSql(false));

async function recordGroup(db: Queryable, group: AttemptRecord[]): Promise<AttemptRecorded[]> {
  const col = <V>(f: (r: AttemptRecord) => V) => group.map(f);
  const l = (r: AttemptRecord) => r.ledger!;
  const c = (r: AttemptRecord) => (r.cacheWrite && r.cacheWrite.ttlMs > 0 ? r.cacheWrite : undefined);
  const scopes = group.flatMap((r, i) => r.budgetScopes.map((scope) => [i + 1, scope] as const));
  const durable = group.some((r) => r.durable !== false);
  const res = await db.query<{ now_ms: number }>(durable ? GROUP_DURABLE : GROUP_ASYNC, [
    col((r) => r.attemptId ?? null),
    col((r) => r.provider),
    col((r) => r.operation),
    col((r) => r.cacheKey),
    col((r) => r.owner),
    col((r) => r.terminal),
    col((r) => r.marker !== false),
    col((r) => r.runId),
    col((r) => r.batchId),
    col((r) => l(r).attempt),
    col((r) => l(r).cache),
    col((r) => l(r).status),
    col((r) => l(r).httpStatus),
    col((r) => l(r).costUsd),
    col((r) => l(r).savedUsd ?? 0),
    col((r) => Math.round(l(r).latencyMs)),
    col((r) => l(r).errorClass),
    // Error text is stored and shown (dlq show, the dashboard): scrubbed whatever raised it.
    col((r) => (l(r).error == null ? null : redactSecrets(l(r).error!))),
    col((r) => c(r) !== undefined),
    col((r) => (c(r) ? JSON.stringify(c(r)!.input ?? null) : null)),
    col((r) => c(r)?.found ?? null),
    col((r) => (c(r) ? JSON.stringify(c(r)!.output ?? null) : null)),
    col((r) => c(r)?.costUsd ?? null),
    col((r) => c(r)?.confidence ?? null),
    col((r) => c(r)?.ttlMs ?? null),
    col((r) => (r.terminal ? r.reservedUsd : 0)),
    scopes.map(([i]) => i),
    scopes.map(([, scope]) => scope),
  ]);
  const nowMs = res.rows[0]?.now_ms ?? Date.now();
  return group.map(() => ({ openUntilMs: null, nowMs }));
}
