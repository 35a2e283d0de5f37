import type { Queryable } from '../db/db.ts';

/**
 * Budgets: a batch's `--budget <USD>` (scope `batch:<id>`) and per-provider daily caps
 * (scope `provider:<id>:<YYYY-MM-DD>`, UTC day). A call reserves the most it can cost (its real price:
 * settings overrides, an LLM's max tokens × the model's price; src/gateway/price.ts) in every scope
 * that applies before it is made, atomically (it is refused when spent + reserved + price would
 * exceed a limit), and settles with the real cost afterwards in the same statement as its ledger row.
 * Its attempt row (call_attempts) lists what it reserved: if the caller dies, the reaper
 * (src/ledger/reaper.ts) counts the price as spent and releases the reservation, so nothing leaks.
 */
export function batchScope(batchId: number): string {
  return `batch:${batchId}`;
}

export function dailyScope(providerId: string, nowMs: number): string {
  return `provider:${providerId}:${new Date(nowMs).toISOString().slice(0, 10)}`;
}

/** Sets (or changes) the budget of a batch. Called by the run engine when a batch starts. */
export async function setBatchBudget(db: Queryable, batchId: number, usd: number): Promise<void> {
  await setBudget(db, batchScope(batchId), usd);
}

export async function setBudget(db: Queryable, scope: string, usd: number): Promise<void> {
  if (!(usd >= 0) || !Number.isFinite(usd))
    throw new RangeError(`budget must be a non-negative amount, got ${usd}`);
  await db.query(
    `INSERT INTO budgets (scope, limit_usd) VALUES ($1, $2::numeric)
     ON CONFLICT (scope) DO UPDATE SET limit_usd = EXCLUDED.limit_usd, updated_at = now()`,
    [scope, usd],
  );
}

export interface BudgetState {
  scope: string;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
}

export async function getBudget(db: Queryable, scope: string): Promise<BudgetState | undefined> {
  const r = await db.query<{ scope: string; limit_usd: number; spent_usd: number; reserved_usd: number }>(
    'SELECT scope, limit_usd, spent_usd, reserved_usd FROM budgets WHERE scope = $1',
    [scope],
  );
  const row = r.rows[0];
  return (
    row && {
      scope: row.scope,
      limitUsd: row.limit_usd,
      spentUsd: row.spent_usd,
      reservedUsd: row.reserved_usd,
    }
  );
}

// Lock the scopes' rows (in order), refuse if any would go over, else reserve in all of them.
const RESERVE = `
WITH locked AS (
  SELECT scope, limit_usd, spent_usd, reserved_usd FROM budgets
  WHERE scope = ANY($1::text[]) ORDER BY scope FOR UPDATE
), over AS (
  SELECT * FROM locked WHERE spent_usd + reserved_usd + $2::numeric > limit_usd ORDER BY scope LIMIT 1
), upd AS (
  UPDATE budgets b SET reserved_usd = b.reserved_usd + $2::numeric, updated_at = now()
  FROM locked WHERE b.scope = locked.scope AND NOT EXISTS (SELECT 1 FROM over)
    AND (SELECT count(*) FROM locked) = cardinality($1::text[])
  RETURNING b.scope
), att AS (
  -- The call's attempt row records the reservation, so a reaper can release it if the caller dies.
  UPDATE call_attempts SET budget_scopes = budget_scopes || $1::text[], reserved_usd = $2::numeric
  WHERE id = $3::bigint AND EXISTS (SELECT 1 FROM upd)
)
SELECT o.scope, o.limit_usd, o.spent_usd, o.reserved_usd, (SELECT count(*) FROM locked)::int AS found
FROM (SELECT 1) AS one LEFT JOIN over o ON true`;

/**
 * Reserves `amountUsd` in every scope, or returns the first scope that would go over (nothing
 * reserved), or `missing` (nothing reserved) when a scope has no row: the caller recreates or drops it.
 * With `attemptId`, the call's attempt row (call_attempts) records the reservation in the same
 * statement, so it is released even if the caller dies before settling.
 */
export async function reserveBudget(
  db: Queryable,
  scopes: readonly string[],
  amountUsd: number,
  attemptId: number | null = null,
): Promise<BudgetState | 'missing' | undefined> {
  if (scopes.length === 0 || amountUsd <= 0) return undefined;
  const r = await db.query<{
    scope: string | null;
    limit_usd: number;
    spent_usd: number;
    reserved_usd: number;
    found: number;
  }>(RESERVE, [scopes, amountUsd, attemptId]);
  const row = r.rows[0];
  if (!row) return undefined;
  if (row.scope === null) return row.found < scopes.length ? 'missing' : undefined;
  return {
    scope: row.scope,
    limitUsd: row.limit_usd,
    spentUsd: row.spent_usd,
    reservedUsd: row.reserved_usd,
  };
}

const ensuredCaps = new WeakMap<Queryable, Map<string, number>>();

/** Forgets which daily-cap rows exist (after they were deleted behind this process's back). */
export function forgetDailyCaps(db: Queryable): void {
  ensuredCaps.delete(db);
}

/** Makes sure today's daily-cap row of a provider exists with the configured limit (once per process). */
export async function ensureDailyCap(db: Queryable, scope: string, usd: number): Promise<void> {
  let seen = ensuredCaps.get(db);
  if (!seen) {
    seen = new Map();
    ensuredCaps.set(db, seen);
  }
  if (seen.get(scope) === usd) return;
  await setBudget(db, scope, usd);
  seen.set(scope, usd);
}
