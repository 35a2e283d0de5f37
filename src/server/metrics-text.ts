import type { Db } from '../db/db.ts';
import type { HttpMetrics } from './http-metrics.ts';
import { escapeLabel } from './http-metrics.ts';

type Sample = [labels: Record<string, string>, value: number];

function family(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): string[] {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  }
  return out;
}

/**
 * `/metrics` in the Prometheus text format (0.0.4): runs by state, calls / cache hits / cost and savings
 * by provider (from the ledger), queue depth, webhook deliveries by outcome, inbound hook events, and
 * this process's HTTP latency histogram. Database figures are read at scrape time.
 */
export async function renderMetrics(db: Db, http: HttpMetrics): Promise<string> {
  const runs = await db.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM runs GROUP BY state ORDER BY state',
  );
  const providers = await db.query<{
    provider: string;
    calls: number;
    hits: number;
    errors: number;
    cost: number;
    saved: number;
  }>(
    `SELECT provider, count(*) FILTER (WHERE cache IN ('miss', 'refresh'))::int AS calls,
            count(*) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS hits,
            count(*) FILTER (WHERE status = 'error')::int AS errors,
            coalesce(sum(cost_usd), 0)::float8 AS cost, coalesce(sum(saved_usd), 0)::float8 AS saved
       FROM ledger GROUP BY provider ORDER BY provider`,
  );
  const deliveries = await db.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM webhook_deliveries GROUP BY state ORDER BY state',
  );
  const attempts = await db.query<{ outcome: string; n: number }>(
    'SELECT outcome, count(*)::int AS n FROM webhook_attempts GROUP BY outcome ORDER BY outcome',
  );
  const hooks = await db.query<{ source: string; state: string; n: number }>(
    'SELECT source, state, count(*)::int AS n FROM hook_events GROUP BY source, state ORDER BY source, state',
  );
  const rejected = await db.query<{ source: string; n: number }>(
    `SELECT source, count(*)::int AS n FROM hook_rejections WHERE received_at > now() - interval '24 hours'
      GROUP BY source ORDER BY source`,
  );
  const queue = await db.query<{ queued: number; oldest: number | null; events: number }>(
    `SELECT (SELECT count(*) FROM runs WHERE state = 'queued')::int AS queued,
            (SELECT extract(epoch FROM now() - min(updated_at)) FROM runs WHERE state = 'queued')::float8 AS oldest,
            (SELECT count(*) FROM record_events)::int AS events`,
  );
  const q = queue.rows[0]!;
  const p = providers.rows;
  return [
    ...family(
      'sluice_runs',
      'gauge',
      'runs by state',
      runs.rows.map((r) => [{ state: r.state }, r.n]),
    ),
    ...family(
      'sluice_provider_calls_total',
      'counter',
      'paid requests by provider',
      p.map((r) => [{ provider: r.provider }, r.calls]),
    ),
    ...family(
      'sluice_provider_cache_hits_total',
      'counter',
      'calls answered by the cache or a coalesced call',
      p.map((r) => [{ provider: r.provider }, r.hits]),
    ),
    ...family(
      'sluice_provider_errors_total',
      'counter',
      'call attempts that failed',
      p.map((r) => [{ provider: r.provider }, r.errors]),
    ),
    ...family(
      'sluice_provider_cost_usd_total',
      'counter',
      'USD spent by provider',
      p.map((r) => [{ provider: r.provider }, r.cost]),
    ),
    ...family(
      'sluice_cache_saved_usd_total',
      'counter',
      'USD not spent thanks to the cache and coalescing',
      p.map((r) => [{ provider: r.provider }, r.saved]),
    ),
    ...family('sluice_queue_depth', 'gauge', 'runs waiting in the queue', [[{}, q.queued]]),
    ...family('sluice_queue_oldest_seconds', 'gauge', 'age of the oldest queued run', [[{}, q.oldest ?? 0]]),
    ...family(
      'sluice_record_events_pending',
      'gauge',
      'created records not yet matched against trigger rules',
      [[{}, q.events]],
    ),
    ...family(
      'sluice_webhook_deliveries',
      'gauge',
      'outbound webhook deliveries by state',
      deliveries.rows.map((r) => [{ state: r.state }, r.n]),
    ),
    ...family(
      'sluice_webhook_attempts_total',
      'counter',
      'outbound webhook attempts by outcome',
      attempts.rows.map((r) => [{ outcome: r.outcome }, r.n]),
    ),
    ...family(
      'sluice_hook_events',
      'gauge',
      'inbound webhook events by source and state',
      hooks.rows.map((r) => [{ source: r.source, state: r.state }, r.n]),
    ),
    ...family(
      'sluice_hook_rejections',
      'gauge',
      'inbound webhook requests refused for their signature or token in the last 24 h, by source',
      rejected.rows.map((r) => [{ source: r.source }, r.n]),
    ),
    ...http.render(),
    '',
  ].join('\n');
}
