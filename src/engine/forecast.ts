import type { Queryable } from '../db/db.ts';
import type { ProviderDefinition, RateLimitSpec } from '../providers/define-provider.ts';
import { flattenRow } from '../records/read-records.ts';
import type { PipelineDefinition } from './pipeline-types.ts';

export interface ForecastLine {
  provider: string;
  operation: string;
  /**
   * Upper bound of calls: per record, the calls its stored values do not rule out (a `when` that is
   * false, fields already filled, an empty input), each waterfall provider counted as if the ones
   * before it found nothing.
   */
  calls: number;
  /** Calls ruled out by the records' stored values (the pipeline's static count minus `calls`). */
  skipped: number;
  /** Of `calls`, those depending on values an earlier step writes (counted as made). */
  undecided: number;
  /** Of those, lookups already in the cache for these accounts (from their earlier runs). */
  cached: number;
  paidCalls: number;
  priceUsd: number;
  costUsd: number;
  /** Least time the provider's rate limits allow for the paid calls (fastest schedule), in seconds. */
  minSeconds: number;
  /** The binding limit, e.g. "15/s". */
  limit: string | undefined;
}

export interface Forecast {
  records: number;
  /** Every figure is an upper bound (never an expectation). */
  bound: 'upper';
  lines: ForecastLine[];
  paidCalls: number;
  costUsd: number;
  /** Calls counted although they depend on values earlier steps write. */
  undecided: number;
  /** Lower bound of the wall time: the slowest provider at its rate limit (they run in parallel). */
  seconds: number;
  /** Set when the pipeline declares nothing to forecast from. */
  note?: string;
}

/**
 * What a batch is expected to cost before anything is spent (`sluice run --dry-run`): the pipeline's
 * declared calls per record, the operations' prices, which lookups the cache already holds for these
 * accounts, and the providers' rate limits.
 */
export async function forecastBatch(
  db: Queryable,
  pipeline: PipelineDefinition,
  accountIds: number[],
  providers: (id: string) => ProviderDefinition | undefined,
  options: { refresh?: boolean } = {},
): Promise<Forecast> {
  const records = accountIds.length;
  if (!pipeline.forecast || pipeline.forecast.length === 0) {
    return {
      records,
      bound: 'upper',
      lines: [],
      paidCalls: 0,
      costUsd: 0,
      undecided: 0,
      seconds: 0,
      note: `pipeline "${pipeline.name}" declares no calls to forecast from`,
    };
  }
  const perRecord = pipeline.forecastRecord
    ? await recordCalls(db, pipeline.forecastRecord, accountIds)
    : undefined;
  const lines: ForecastLine[] = [];
  for (const f of pipeline.forecast) {
    const provider = providers(f.provider);
    const op = provider?.operations[f.operation];
    const key = `${f.provider}/${f.operation}`;
    const bound = Math.ceil(records * f.callsPerRecord);
    const calls = perRecord ? Math.min(bound, Math.ceil(perRecord.calls.get(key) ?? 0)) : bound;
    const undecided = perRecord ? Math.min(calls, Math.ceil(perRecord.undecided.get(key) ?? 0)) : 0;
    const cachedAccounts = options.refresh ? 0 : await cachedLookups(db, f.provider, f.operation, accountIds);
    const cached = Math.min(calls, Math.ceil(cachedAccounts * f.callsPerRecord));
    const paidCalls = provider?.free ? 0 : calls - cached;
    const priceUsd = provider?.free ? 0 : (op?.priceUsd ?? 0);
    const { seconds: minSeconds, limit } = fastestAtLimits(calls - cached, [
      ...(provider?.limits ?? []),
      ...(op?.limits ?? []),
    ]);
    lines.push({
      provider: f.provider,
      operation: f.operation,
      calls,
      skipped: bound - calls,
      undecided,
      cached,
      paidCalls,
      priceUsd,
      costUsd: paidCalls * priceUsd,
      minSeconds,
      limit,
    });
  }
  const perProvider = new Map<string, number>();
  for (const l of lines) perProvider.set(l.provider, (perProvider.get(l.provider) ?? 0) + l.minSeconds);
  return {
    records,
    bound: 'upper',
    lines,
    paidCalls: lines.reduce((s, l) => s + l.paidCalls, 0),
    costUsd: lines.reduce((s, l) => s + l.costUsd, 0),
    undecided: lines.reduce((s, l) => s + l.undecided, 0),
    seconds: Math.max(0, ...perProvider.values()),
  };
}

/**
 * The least time `calls` calls need under these windows, starting fresh (the last send of the fastest
 * schedule: a window lets its first `limit` calls go at once, so 600 calls under 200/min + 2000/h need
 * 2 minutes, not 600/2000 of an hour), and the window that binds (the one alone needing the most).
 */
export function fastestAtLimits(
  calls: number,
  windows: readonly RateLimitSpec[],
): { seconds: number; limit: string | undefined } {
  if (calls <= 0 || windows.length === 0) return { seconds: 0, limit: undefined };
  let limit: string | undefined;
  let most = -1;
  let slowest = -1;
  for (const w of windows) {
    // Ties (no window binds yet) go to the window of the lowest rate.
    const alone = Math.floor((calls - 1) / w.limit) * w.windowMs;
    const perCall = w.windowMs / w.limit;
    if (alone > most || (alone === most && perCall > slowest)) {
      most = alone;
      slowest = perCall;
      limit = w.label ?? `${w.limit}/${w.windowMs}ms`;
    }
  }
  // fastestSchedule's greedy walk, keeping only the last max(limit) send times.
  const size = Math.max(...windows.map((w) => w.limit));
  const ring = new Float64Array(size);
  let t = 0;
  for (let k = 0; k < calls; k++) {
    for (const w of windows) if (k >= w.limit) t = Math.max(t, ring[(k - w.limit) % size]! + w.windowMs);
    ring[k % size] = t;
  }
  return { seconds: t / 1000, limit };
}

/** Calls per provider/operation over the accounts, decided from their stored values (pages of 500). */
async function recordCalls(
  db: Queryable,
  forecastRecord: NonNullable<PipelineDefinition['forecastRecord']>,
  accountIds: number[],
): Promise<{ calls: Map<string, number>; undecided: Map<string, number> }> {
  const calls = new Map<string, number>();
  const undecided = new Map<string, number>();
  for (let i = 0; i < accountIds.length; i += 500) {
    const page = await db.query<{ row: Record<string, unknown> }>(
      'SELECT to_jsonb(a) AS row FROM accounts a WHERE a.id = ANY($1::bigint[])',
      [accountIds.slice(i, i + 500)],
    );
    for (const { row } of page.rows) {
      for (const c of forecastRecord(flattenRow(row))) {
        const key = `${c.provider}/${c.operation}`;
        calls.set(key, (calls.get(key) ?? 0) + c.callsPerRecord);
        if (c.undecided) undecided.set(key, (undecided.get(key) ?? 0) + c.callsPerRecord);
      }
    }
  }
  return { calls, undecided };
}

/** Accounts whose earlier runs made this lookup and whose cache entry is still alive. */
async function cachedLookups(
  db: Queryable,
  provider: string,
  operation: string,
  accountIds: number[],
): Promise<number> {
  if (accountIds.length === 0) return 0;
  const r = await db.query<{ n: number }>(
    `SELECT count(DISTINCT r.account_id)::int AS n
       FROM runs r
       JOIN ledger l ON l.run_id = r.id AND l.provider = $2 AND l.operation = $3
       JOIN cache_entries c ON c.key = l.cache_key AND c.expires_at > now()
      WHERE r.account_id = ANY($1::bigint[])`,
    [accountIds, provider, operation],
  );
  return r.rows[0]?.n ?? 0;
}
