import type { Queryable } from '../../db/db.ts';
import { UiError } from '../ui-auth.ts';
import { LEDGER_FACTS } from './ledger-rollup.ts';

/** Spend grouped one way: by UTC day, provider, pipeline, batch, or (of one batch) by record. */
export const SPEND_BY = ['day', 'provider', 'pipeline', 'batch', 'record'] as const;
export type SpendBy = (typeof SPEND_BY)[number];

export interface SpendRow {
  key: string;
  /** Where the row drills down to. */
  href?: string;
  requests: number;
  costUsd: number;
  savedUsd: number;
}

export function parseSpendBy(raw: string | undefined, batch: number | undefined): SpendBy {
  const by = raw || (batch ? 'record' : 'day');
  if (!(SPEND_BY as readonly string[]).includes(by))
    throw new UiError(400, `by must be one of ${SPEND_BY.join(', ')}, got "${by}"`);
  if (by === 'record' && !batch) throw new UiError(400, 'spend by record is per batch: add batch=<id>');
  return by as SpendBy;
}

/**
 * Spend from the ledger rollup (days, providers, pipelines, batches) or, for one batch, from its runs
 * (each run's cost is its record's spend in that batch).
 */
export async function readSpend(
  db: Queryable,
  by: SpendBy,
  o: { batch?: number; days?: number } = {},
): Promise<SpendRow[]> {
  if (by === 'record') {
    const r = await db.query<{
      run: number;
      account: number;
      name: string | null;
      calls: number;
      cost: number;
    }>(
      `SELECT r.id AS run, r.account_id AS account, a.name, r.calls, r.cost_usd::float8 AS cost
         FROM runs r LEFT JOIN accounts a ON a.id = r.account_id
        WHERE r.batch_id = $1 ORDER BY r.cost_usd DESC, r.id LIMIT 1000`,
      [o.batch],
    );
    return r.rows.map((x) => ({
      key: x.name ?? `account ${x.account}`,
      href: `/runs/${x.run}`,
      requests: x.calls,
      costUsd: x.cost,
      savedUsd: 0,
    }));
  }
  const filter = o.batch ? 'batch_id = $1' : `hour >= date_trunc('day', now()) - make_interval(days => $1)`;
  const param = o.batch ?? (o.days ?? 31) - 1;
  // Pipelines come from the batches table: fold by batch first, then name each batch's pipeline.
  const group =
    by === 'day'
      ? `to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
      : by === 'provider'
        ? 'provider'
        : 'batch_id';
  const sums = `SELECT ${group} AS key, sum(requests)::int AS requests, sum(cost_usd)::float8 AS cost,
                       sum(saved_usd)::float8 AS saved FROM ${LEDGER_FACTS} WHERE ${filter} GROUP BY 1`;
  const sql =
    by === 'pipeline'
      ? `SELECT coalesce(b.pipeline, '(no batch)') AS key, sum(x.requests)::int AS requests, sum(x.cost)::float8 AS cost,
                sum(x.saved)::float8 AS saved
           FROM (${sums}) x LEFT JOIN batches b ON b.id = x.key GROUP BY 1 ORDER BY 3 DESC LIMIT 500`
      : `SELECT key::text AS key, requests, cost, saved FROM (${sums}) x ORDER BY ${by === 'day' ? '1 DESC' : '3 DESC'} LIMIT 500`;
  const r = await db.query<{ key: string; requests: number; cost: number; saved: number }>(sql, [param]);
  return r.rows.map((x) => ({
    key: by === 'batch' && x.key === '0' ? '(no batch)' : x.key,
    ...(by === 'batch' && x.key !== '0' ? { href: `/spend?batch=${x.key}` } : {}),
    requests: x.requests,
    costUsd: x.cost,
    savedUsd: x.saved,
  }));
}
