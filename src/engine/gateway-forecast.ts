import { operationCacheKey } from '../cache/cache-key.ts';
import type { Queryable } from '../db/db.ts';
import { limitWindows, maxRatePerSecond } from '../limits/sliding-window.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';

/**
 * Gateway forecast for `sluice run --dry-run`, from concrete inputs: how many calls the cache and
 * de-duplication leave to pay for, what they cost at the declared prices, and how long the rate
 * limits make them take. Nothing is called and nothing is written.
 */
export interface ForecastRequest {
  provider: string;
  operation: string;
  inputs: readonly unknown[];
  /** `--refresh`: the cache is not read, so every unique input is paid for. */
  refresh?: boolean;
}

export interface CallForecast {
  provider: string;
  operation: string;
  calls: number;
  /** Inputs the operation's schema rejects (they would fail without a request). */
  invalid: number;
  uniqueKeys: number;
  cacheHits: number;
  paidCalls: number;
  /** Upper bound: paid calls × the declared price (misses are often free). */
  costUsd: number;
  /** Lower bound of the wall time at the binding rate limit of the provider and the operation. */
  durationMs: number;
}

export async function forecastCalls(
  db: Queryable,
  providers: (id: string) => ProviderDefinition | undefined,
  requests: readonly ForecastRequest[],
): Promise<{ lines: CallForecast[]; paidCalls: number; costUsd: number; durationMs: number }> {
  const lines: CallForecast[] = [];
  const perProviderMs = new Map<string, number>();
  for (const req of requests) {
    const provider = providers(req.provider);
    const op = provider?.operations[req.operation];
    if (!provider || !op) throw new Error(`unknown operation ${req.provider}.${req.operation}`);
    const keys = new Set<string>();
    let invalid = 0;
    for (const input of req.inputs) {
      const parsed = op.input.safeParse(input);
      if (!parsed.success) {
        invalid++;
        continue;
      }
      keys.add(operationCacheKey(provider.id, req.operation, op, parsed.data).key);
    }
    let cacheHits = 0;
    if (!req.refresh && keys.size > 0) {
      const r = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM cache_entries WHERE key = ANY($1::text[]) AND expires_at > now()',
        [[...keys]],
      );
      cacheHits = r.rows[0]?.n ?? 0;
    }
    const paidCalls = keys.size - cacheHits;
    const rate = maxRatePerSecond(limitWindows(provider.id, req.operation, provider.limits, op.limits, 0));
    const durationMs = Number.isFinite(rate) ? (paidCalls / rate) * 1000 : 0;
    perProviderMs.set(provider.id, (perProviderMs.get(provider.id) ?? 0) + durationMs);
    lines.push({
      provider: provider.id,
      operation: req.operation,
      calls: req.inputs.length,
      invalid,
      uniqueKeys: keys.size,
      cacheHits,
      paidCalls,
      costUsd: provider.free ? 0 : paidCalls * op.priceUsd,
      durationMs,
    });
  }
  return {
    lines,
    paidCalls: lines.reduce((s, l) => s + l.paidCalls, 0),
    costUsd: lines.reduce((s, l) => s + l.costUsd, 0),
    // Providers are called in parallel; operations of one provider share its limits.
    durationMs: Math.max(0, ...perProviderMs.values()),
  };
}
