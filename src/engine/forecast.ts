import type { Queryable } from '../db/db.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import type { PipelineDefinition } from './pipeline-types.ts';

export interface ForecastLine {
  provider: string;
  operation: string;
  /** Upper bound of calls: records × calls per record. */
  calls: number;
  /** Of those, lookups already in the cache for these accounts (from their earlier runs). */
  cached: number;
  paidCalls: number;
  priceUsd: number;
  costUsd: number;
  /** Fastest the provider's tightest rate limit allows for the paid calls, in seconds. */
  minSeconds: number;
  /** The binding limit, e.g. "15/s". */
  limit: string | undefined;
}

export interface Forecast {
  records: number;
  lines: ForecastLine[];
  paidCalls: number;
  costUsd: number;
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
      lines: [],
      paidCalls: 0,
      costUsd: 0,
      seconds: 0,
      note: `pipeline "${pipeline.name}" declares no calls to forecast from`,
    };
  }
  const lines: ForecastLine[] = [];
  for (const f of pipeline.forecast) {
    const provider = providers(f.provider);
    const op = provider?.operations[f.operation];
    const calls = Math.ceil(records * f.callsPerRecord);
    const cachedAccounts = options.refresh ? 0 : await cachedLookups(db, f.provider, f.operation, accountIds);
    const cached = Math.min(calls, Math.ceil(cachedAccounts * f.callsPerRecord));
    const paidCalls = provider?.free ? 0 : calls - cached;
    const priceUsd = provider?.free ? 0 : (op?.priceUsd ?? 0);
    const windows = [...(provider?.limits ?? []), ...(op?.limits ?? [])];
    let minSeconds = 0;
    let limit: string | undefined;
    for (const w of windows) {
      const s = ((calls - cached) * w.windowMs) / w.limit / 1000;
      if (s >= minSeconds) {
        minSeconds = s;
        limit = w.label ?? `${w.limit}/${w.windowMs}ms`;
      }
    }
    lines.push({
      provider: f.provider,
      operation: f.operation,
      calls,
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
    lines,
    paidCalls: lines.reduce((s, l) => s + l.paidCalls, 0),
    costUsd: lines.reduce((s, l) => s + l.costUsd, 0),
    seconds: Math.max(0, ...perProvider.values()),
  };
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
