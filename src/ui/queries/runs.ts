import type { Db, Queryable } from '../../db/db.ts';
import { settleBatch } from '../../engine/batch.ts';
import { CANCELLED } from '../../errors.ts';
import { UiError } from '../ui-auth.ts';

/** The runs explorer's filter; it lives in the URL (`/runs?state=failed&provider=hunter&q=timeout`). */
export interface RunFilter {
  state?: string;
  pipeline?: string;
  batch?: number;
  /** Error class (`retryable`, `throttled`, `critical`, `cancelled`…). */
  error?: string;
  /** Runs that made a call to this provider (from the ledger). */
  provider?: string;
  since?: Date;
  until?: Date;
  /** Text searched in the run's errors and in its input (the account's name, domain, website, attributes). */
  q?: string;
}

export const RUN_STATES = ['queued', 'running', 'enriched', 'partial', 'failed'] as const;
export const FILTER_KEYS = [
  'state',
  'pipeline',
  'batch',
  'error',
  'provider',
  'since',
  'until',
  'q',
] as const;

/** Reads a filter from query or form values; a malformed value is a 400 naming the field. */
export function parseRunFilter(get: (k: string) => string | undefined): RunFilter {
  const f: RunFilter = {};
  const v = (k: string) => get(k)?.trim() || undefined;
  const state = v('state');
  if (state) {
    if (!(RUN_STATES as readonly string[]).includes(state))
      throw new UiError(400, `state must be one of ${RUN_STATES.join(', ')}, got "${state}"`);
    f.state = state;
  }
  const batch = v('batch');
  if (batch) {
    const n = Number(batch);
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new UiError(400, `batch must be a batch number, got "${batch}"`);
    f.batch = n;
  }
  for (const k of ['pipeline', 'error', 'provider', 'q'] as const) {
    const x = v(k);
    if (x) {
      if (x.length > 200) throw new UiError(400, `${k} is longer than 200 characters`);
      f[k] = x;
    }
  }
  for (const k of ['since', 'until'] as const) {
    const x = v(k);
    if (x) {
      const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(x) ? `${x}T00:00:00Z` : x);
      if (Number.isNaN(d.getTime()))
        throw new UiError(400, `${k} must be a date (2025-01-31) or a date and time, got "${x}"`);
      f[k] = d;
    }
  }
  return f;
}

/** The filter back as URL parameters (links, the bulk forms' hidden fields). */
export function filterParams(f: RunFilter): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of FILTER_KEYS) {
    const x = f[k];
    if (x !== undefined) out[k] = x instanceof Date ? x.toISOString() : String(x);
  }
  return out;
}

const likeEscape = (s: string) => `%${s.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/** SQL conditions on `runs r` (alias `r` only), values appended to `params` (never spliced in). */
export function runFilterSql(f: RunFilter, params: unknown[]): string {
  const where: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.state) where.push(`r.state = ${p(f.state)}`);
  if (f.pipeline) where.push(`r.pipeline = ${p(f.pipeline)}`);
  if (f.batch) where.push(`r.batch_id = ${p(f.batch)}`);
  if (f.error) where.push(`r.error_class = ${p(f.error)}`);
  if (f.provider)
    where.push(`EXISTS (SELECT 1 FROM ledger l WHERE l.run_id = r.id AND l.provider = ${p(f.provider)})`);
  if (f.since) where.push(`r.created_at >= ${p(f.since.toISOString())}::timestamptz`);
  if (f.until) where.push(`r.created_at < ${p(f.until.toISOString())}::timestamptz`);
  if (f.q) {
    // lower-cased text stored ahead (migration 0040): the run's errors, and its account's name, domain,
    // website and attributes, whose matches are looked up once (an uncorrelated IN, hashed), not per run
    const q = p(likeEscape(f.q));
    where.push(
      `(r.search_text LIKE lower(${q}) OR r.account_id IN (
         SELECT x.account_id FROM account_search x WHERE x.search_text LIKE lower(${q})))`,
    );
  }
  return where.length > 0 ? where.join(' AND ') : 'true';
}

export interface RunListRow {
  id: number;
  batchId: number | null;
  pipeline: string;
  accountId: number;
  accountName: string | null;
  state: string;
  attempts: number;
  errorClass: string | null;
  error: string | null;
  calls: number;
  cacheHits: number;
  costUsd: number;
  createdAt: Date;
  finishedAt: Date | null;
}

/** A page of matching runs, newest first (keyset on id), and how many match (counted up to 10,000). */
export async function listRuns(
  db: Queryable,
  f: RunFilter,
  o: { before?: number; limit: number },
): Promise<{ rows: RunListRow[]; matching: number; capped: boolean }> {
  const params: unknown[] = [];
  const where = runFilterSql(f, params);
  const n = params.length;
  // The page and the count are independent: on server Postgres they run at once (PGlite queues them).
  const rowsQuery = db.query<RunListRow>(
    `SELECT r.id, r.batch_id AS "batchId", r.pipeline, r.account_id AS "accountId", a.name AS "accountName", r.state,
            r.attempts, r.error_class AS "errorClass", r.error, r.calls, r.cache_hits AS "cacheHits",
            r.cost_usd::float8 AS "costUsd", r.created_at AS "createdAt", r.finished_at AS "finishedAt"
       FROM runs r JOIN accounts a ON a.id = r.account_id
      WHERE ${where} AND r.id < $${n + 1} ORDER BY r.id DESC LIMIT $${n + 2}`,
    [...params, o.before ?? Number.MAX_SAFE_INTEGER, o.limit],
  );
  const countQuery = db.query<{ n: number }>(
    // no join: no condition reads the account's row (runs.account_id is a foreign key, never null)
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM runs r WHERE ${where} LIMIT ${CAP + 1}) x`,
    params,
  );
  const [rows, count] = await Promise.all([rowsQuery, countQuery]);
  const matching = count.rows[0]!.n;
  return { rows: rows.rows, matching: Math.min(matching, CAP), capped: matching > CAP };
}

/** A bulk action takes at most this many runs at once (repeat it for more). */
export const CAP = 10_000;

/** Ids of matching runs a redrive would take (failed, or partial with failed calls). */
export async function matchingRedrivable(db: Queryable, f: RunFilter): Promise<number[]> {
  const params: unknown[] = [];
  const where = runFilterSql(f, params);
  const r = await db.query<{ id: number }>(
    `SELECT r.id FROM runs r JOIN accounts a ON a.id = r.account_id
      WHERE ${where} AND (r.state = 'failed' OR (r.state = 'partial' AND r.failed_calls > 0))
      ORDER BY r.id LIMIT ${CAP}`,
    params,
  );
  return r.rows.map((x) => x.id);
}

/**
 * Cancels the matching runs that are still queued: they end `failed` with error class `cancelled`
 * (a redrive would run them after all). Running runs are left to finish. Batches left with nothing
 * open are settled. Returns the runs cancelled.
 */
export async function cancelMatching(db: Db, f: RunFilter, by: string): Promise<number> {
  const params: unknown[] = [];
  const where = runFilterSql(f, params);
  params.push(`cancelled from the dashboard (key ${by})`);
  const r = await db.query<{ id: number; batch_id: number | null }>(
    `UPDATE runs r SET state = 'failed', error_class = '${CANCELLED}', error = $${params.length}, finished_at = now(),
            updated_at = now()
       WHERE r.id IN (SELECT r.id FROM runs r JOIN accounts a ON a.id = r.account_id
                       WHERE ${where} AND r.state = 'queued' ORDER BY r.id LIMIT ${CAP})
         AND r.state = 'queued'
     RETURNING r.id, r.batch_id`,
    params,
  );
  for (const b of new Set(r.rows.map((x) => x.batch_id).filter((x): x is number => x !== null)))
    await settleBatch(db, b);
  return r.rows.length;
}

export interface TimelineEntry {
  at: Date;
  kind: 'step' | 'call';
  label: string;
  status: string;
  cache?: string;
  latencyMs?: number;
  costUsd: number;
  detail?: unknown;
  error?: string | null;
}

/** One run: its row, its account, and its steps and calls on one timeline (oldest first). */
export async function readRunDetail(db: Queryable, id: number) {
  const r = await db.query<
    RunListRow & {
      errors: unknown[];
      startedAt: Date | null;
      failedCalls: number;
      throttles: number;
      redrives: number;
    }
  >(
    `SELECT r.id, r.batch_id AS "batchId", r.pipeline, r.account_id AS "accountId", a.name AS "accountName", r.state,
            r.attempts, r.error_class AS "errorClass", r.error, r.errors, r.calls, r.cache_hits AS "cacheHits",
            r.cost_usd::float8 AS "costUsd", r.created_at AS "createdAt", r.started_at AS "startedAt",
            r.finished_at AS "finishedAt", r.failed_calls AS "failedCalls", r.throttles, r.redrives
       FROM runs r LEFT JOIN accounts a ON a.id = r.account_id WHERE r.id = $1`,
    [id],
  );
  const run = r.rows[0];
  if (!run) return undefined;
  const steps = await db.query<{
    step_key: string;
    status: string;
    output: unknown;
    calls: number;
    cache_hits: number;
    cost_usd: number;
    completed_at: Date;
  }>(
    `SELECT step_key, status, output, calls, cache_hits, cost_usd::float8 AS cost_usd, completed_at
       FROM run_steps WHERE run_id = $1 ORDER BY completed_at, step_key`,
    [id],
  );
  const calls = await db.query<{
    created_at: Date;
    provider: string;
    operation: string;
    attempt: number;
    cache: string;
    status: string;
    http_status: number | null;
    latency_ms: number;
    cost_usd: number;
    error_class: string | null;
    error: string | null;
  }>(
    `SELECT created_at, provider, operation, attempt, cache, status, http_status, latency_ms,
            cost_usd::float8 AS cost_usd, error_class, error
       FROM ledger WHERE run_id = $1 ORDER BY id LIMIT 1000`,
    [id],
  );
  const timeline: TimelineEntry[] = [
    ...steps.rows.map((s) => ({
      at: new Date(s.completed_at),
      kind: 'step' as const,
      label: s.step_key,
      status: s.status,
      costUsd: s.cost_usd,
      detail: s.output,
    })),
    ...calls.rows.map((l) => ({
      at: new Date(l.created_at),
      kind: 'call' as const,
      label: `${l.provider}.${l.operation}${l.attempt > 1 ? ` (attempt ${l.attempt})` : ''}`,
      status: l.http_status ? `${l.status} (HTTP ${l.http_status})` : l.status,
      cache: l.cache,
      latencyMs: l.latency_ms,
      costUsd: l.cost_usd,
      error: l.error_class ? `${l.error_class}: ${l.error ?? ''}` : l.error,
    })),
  ].sort((x, y) => x.at.getTime() - y.at.getTime() || (x.kind === y.kind ? 0 : x.kind === 'call' ? -1 : 1));
  return { run, timeline };
}
