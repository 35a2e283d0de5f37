import type { Db } from '../../db/db.ts';
import { type Health, readHealth } from '../../server/health.ts';
import { type SyncStatusRow, syncStatus } from '../../sync/sync-status.ts';
import { LEDGER_FACTS } from './ledger-rollup.ts';

export interface Overview {
  health: Health;
  runsByState: Record<string, number>;
  /** Per hour of the last 24: runs finished and provider requests made. */
  throughput: { hour: Date; runs: number; requests: number }[];
  /** Today's daily provider caps (summed) and what was spent against them; null when none is set. */
  spend: { todayUsd: number; monthUsd: number; todayCapUsd: number | null; todayCapSpentUsd: number | null };
  cache: { hits: number; misses: number; savedUsd: number; todayHits: number; todaySavedUsd: number };
  webhooks: { pending: number; failed24h: number; succeeded24h: number; disabledEndpoints: number };
  inbound: { pending: number; failed24h: number; processed24h: number };
  syncs: SyncStatusRow[];
}

/** Everything the overview shows, from indexed ranges and the ledger's pre-aggregate. */
export async function readOverview(db: Db): Promise<Overview> {
  // Independent reads: on server Postgres they run at once (PGlite queues them).
  const healthQ = readHealth(db);
  const statesQ = db.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM runs GROUP BY state',
  );
  const runsQ = db.query<{ hour: Date; n: number }>(
    `SELECT date_trunc('hour', finished_at) AS hour, count(*)::int AS n FROM runs
      WHERE finished_at > now() - interval '24 hours' GROUP BY 1`,
  );
  const ledgerQ = db.query<{
    hour: Date;
    requests: number;
    cost: number;
    saved: number;
    hits: number;
    misses: number;
  }>(
    `SELECT hour, sum(requests)::int AS requests, sum(cost_usd)::float8 AS cost, sum(saved_usd)::float8 AS saved,
            sum(rows) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS hits,
            sum(rows) FILTER (WHERE cache IN ('miss', 'refresh') AND status <> 'refused')::int AS misses
       FROM ${LEDGER_FACTS} WHERE hour >= date_trunc('month', now()) - interval '1 day' GROUP BY hour`,
  );
  const allQ = db.query<{ hits: number; misses: number; saved: number }>(
    `SELECT coalesce(sum(rows) FILTER (WHERE cache IN ('hit', 'coalesced')), 0)::int AS hits,
            coalesce(sum(rows) FILTER (WHERE cache IN ('miss', 'refresh') AND status <> 'refused'), 0)::int AS misses,
            coalesce(sum(saved_usd), 0)::float8 AS saved FROM ${LEDGER_FACTS}`,
  );
  // Daily provider caps are budgets of scope provider:<id>:<UTC day> (src/limits/budget.ts).
  const capsQ = db.query<{ cap: number | null; spent: number | null }>(
    `SELECT sum(limit_usd)::float8 AS cap, sum(spent_usd)::float8 AS spent FROM budgets
      WHERE scope LIKE 'provider:%:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  );
  const hooksQ = db.query<{
    pending: number;
    failed: number;
    succeeded: number;
    disabled: number;
    hpending: number;
    hfailed: number;
    hprocessed: number;
  }>(
    `SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending')::int AS pending,
            (SELECT count(*) FROM webhook_deliveries WHERE created_at > now() - interval '24 hours' AND state = 'failed')::int AS failed,
            (SELECT count(*) FROM webhook_deliveries WHERE created_at > now() - interval '24 hours' AND state = 'succeeded')::int AS succeeded,
            (SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL)::int AS disabled,
            (SELECT count(*) FROM hook_events WHERE state = 'pending')::int AS hpending,
            (SELECT count(*) FROM hook_events WHERE received_at > now() - interval '24 hours' AND state = 'failed')::int AS hfailed,
            (SELECT count(*) FROM hook_events WHERE received_at > now() - interval '24 hours' AND state = 'processed')::int AS hprocessed`,
  );
  const syncsQ = syncStatus(db);
  const [health, states, runs, ledger, all, caps, hooks, syncs] = await Promise.all([
    healthQ,
    statesQ,
    runsQ,
    ledgerQ,
    allQ,
    capsQ,
    hooksQ,
    syncsQ,
  ]);
  const now = Date.now();
  const dayStart = Date.UTC(
    new Date(now).getUTCFullYear(),
    new Date(now).getUTCMonth(),
    new Date(now).getUTCDate(),
  );
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  let todayUsd = 0;
  let monthUsd = 0;
  let todayHits = 0;
  let todaySaved = 0;
  const byHour = new Map<number, { runs: number; requests: number }>();
  const hourKey = (d: Date) => new Date(d).getTime();
  for (let i = 23; i >= 0; i--) {
    const h = Math.floor(now / 3_600_000) * 3_600_000 - i * 3_600_000;
    byHour.set(h, { runs: 0, requests: 0 });
  }
  for (const r of ledger.rows) {
    const t = hourKey(r.hour);
    if (t >= monthStart) monthUsd += r.cost;
    if (t >= dayStart) {
      todayUsd += r.cost;
      todayHits += r.hits ?? 0;
      todaySaved += r.saved;
    }
    const slot = byHour.get(t);
    if (slot) slot.requests += r.requests;
  }
  for (const r of runs.rows) {
    const slot = byHour.get(hourKey(r.hour));
    if (slot) slot.runs += r.n;
  }
  const h = hooks.rows[0]!;
  return {
    health,
    runsByState: Object.fromEntries(states.rows.map((r) => [r.state, r.n])),
    throughput: [...byHour].map(([t, v]) => ({ hour: new Date(t), ...v })),
    spend: {
      todayUsd,
      monthUsd,
      todayCapUsd: caps.rows[0]?.cap ?? null,
      todayCapSpentUsd: caps.rows[0]?.spent ?? null,
    },
    cache: {
      hits: all.rows[0]!.hits,
      misses: all.rows[0]!.misses,
      savedUsd: all.rows[0]!.saved,
      todayHits,
      todaySavedUsd: todaySaved,
    },
    webhooks: {
      pending: h.pending,
      failed24h: h.failed,
      succeeded24h: h.succeeded,
      disabledEndpoints: h.disabled,
    },
    inbound: { pending: h.hpending, failed24h: h.hfailed, processed24h: h.hprocessed },
    syncs,
  };
}
