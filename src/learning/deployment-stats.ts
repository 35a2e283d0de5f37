import type { Queryable } from '../db/db.ts';

/**
 * Measured figures of one deployment, computed from its batches' runs, memoized steps, field values,
 * ledger rows and value outcomes (never typed by a person). Every figure carries its sample size.
 * Costs are what the ledger says was paid: a batch answered from the cache costs nothing, and records
 * are distinct accounts, so running a deployment again for free does not make it look cheaper per record.
 */
export interface DeploymentStats {
  deploymentId: number;
  batches: number[];
  /** Distinct accounts the deployment's runs worked on. */
  records: number;
  runs: { total: number; enriched: number; partial: number; failed: number; open: number };
  /** Accounts with at least one value written by these runs, over `records`. */
  coverage: number | null;
  /** Field values written (provider and step sources). */
  values: number;
  contactsWithValues: number;
  costUsd: number;
  requests: number;
  cacheHits: number;
  costPerRecordUsd: number | null;
  costPerFoundValueUsd: number | null;
  /** Seconds from a run's start to its end: median and 90th percentile over `speed.n` finished runs that made a request (not only cache hits). */
  speed: { n: number; p50S: number | null; p90S: number | null; wallS: number };
  steps: StepStat[];
  providers: ProviderStat[];
  positions: PositionStat[];
  quality: QualityStat[];
  firstRunAt: string | null;
  lastRunAt: string | null;
}

export interface StepStat {
  /** `website`, or `emails.email` for a foreach child (one instance per contact). */
  step: string;
  instances: number;
  found: number;
  notFound: number;
  skipped: number;
  /** found / (found + not found): instances that ran; skipped ones (value already there, `when` false) are left out. */
  hitRate: number | null;
  costUsd: number;
}

export interface ProviderStat {
  provider: string;
  operation: string;
  calls: number;
  requests: number;
  found: number;
  notFound: number;
  errors: number;
  costUsd: number;
  /** Median latency of the calls that reached the provider (ms), over `requests`. */
  p50LatencyMs: number | null;
}

/** A waterfall's providers by position: how often each was tried and how often it won the value. */
export interface PositionStat {
  step: string;
  position: number;
  provider: string;
  operation: string;
  tried: number;
  wins: number;
  rejected: number;
  notFound: number;
  errors: number;
  skipped: number;
}

export interface QualityStat {
  field: string;
  values: number;
  verified: number;
  bounced: number;
  corrected: number;
  replied: number;
}

const STEP = `CASE WHEN position('/' IN s.step_key) > 0 THEN split_part(s.step_key, '/', 2) ELSE s.step_key END`;

export async function deploymentStats(db: Queryable, deploymentId: number): Promise<DeploymentStats> {
  const batches = (
    await db.query<{ batch_id: number }>(
      'SELECT batch_id FROM deployment_batches WHERE deployment_id = $1 ORDER BY batch_id',
      [deploymentId],
    )
  ).rows.map((r) => r.batch_id);
  return { deploymentId, ...(await batchStats(db, batches)) };
}

/** The same figures over any set of batches (a pattern's figures pool all its deployments' batches). */
export async function batchStats(
  db: Queryable,
  batches: number[],
): Promise<Omit<DeploymentStats, 'deploymentId'>> {
  const b = [batches];
  const runs = await db.query<{
    records: number;
    total: number;
    enriched: number;
    partial: number;
    failed: number;
    open: number;
    speed_n: number;
    p50: number | null;
    p90: number | null;
    first: string | null;
    last: string | null;
  }>(
    `SELECT count(DISTINCT account_id)::int AS records, count(*)::int AS total,
            count(*) FILTER (WHERE state = 'enriched')::int AS enriched,
            count(*) FILTER (WHERE state = 'partial')::int AS partial,
            count(*) FILTER (WHERE state = 'failed')::int AS failed,
            count(*) FILTER (WHERE state IN ('queued', 'running'))::int AS open,
            count(*) FILTER (WHERE finished_at IS NOT NULL AND calls > cache_hits)::int AS speed_n,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
              FILTER (WHERE finished_at IS NOT NULL AND calls > cache_hits)::float8 AS p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
              FILTER (WHERE finished_at IS NOT NULL AND calls > cache_hits)::float8 AS p90,
            min(created_at)::text AS first, max(finished_at)::text AS last
       FROM runs WHERE batch_id = ANY($1::bigint[])`,
    b,
  );
  const wall = await db.query<{ wall: number }>(
    `SELECT coalesce(sum(extract(epoch FROM coalesce(finished_at, now()) - created_at)), 0)::float8 AS wall
       FROM batches WHERE id = ANY($1::bigint[])`,
    b,
  );
  const values = await db.query<{ values: number; accounts: number; contacts: number }>(
    `SELECT count(*)::int AS values,
            count(DISTINCT r.account_id)::int AS accounts,
            count(DISTINCT f.entity_id) FILTER (WHERE f.entity_type = 'contact')::int AS contacts
       FROM runs r JOIN field_values f ON f.run_id = r.id
      WHERE r.batch_id = ANY($1::bigint[]) AND f.source IN ('provider', 'step')`,
    b,
  );
  const ledger = await db.query<ProviderStat & { hits: number }>(
    `SELECT provider, operation,
            count(*) FILTER (WHERE attempt <= 1 AND status <> 'refused')::int AS calls,
            count(*) FILTER (WHERE attempt >= 1)::int AS requests,
            count(*) FILTER (WHERE status = 'found')::int AS found,
            count(*) FILTER (WHERE status = 'not_found')::int AS "notFound",
            count(*) FILTER (WHERE status = 'error')::int AS errors,
            coalesce(sum(cost_usd), 0)::float8 AS "costUsd",
            count(*) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS hits,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE attempt >= 1)::float8
              AS "p50LatencyMs"
       FROM ledger WHERE batch_id = ANY($1::bigint[])
      GROUP BY provider, operation ORDER BY provider, operation`,
    b,
  );
  const steps = await db.query<StepStat>(
    `SELECT ${STEP} AS step, count(*)::int AS instances,
            count(*) FILTER (WHERE s.status = 'found')::int AS found,
            count(*) FILTER (WHERE s.status = 'not_found')::int AS "notFound",
            count(*) FILTER (WHERE s.status = 'skipped')::int AS skipped,
            coalesce(sum(s.cost_usd), 0)::float8 AS "costUsd"
       FROM runs r JOIN run_steps s ON s.run_id = r.id
      WHERE r.batch_id = ANY($1::bigint[])
      GROUP BY 1 ORDER BY min(s.completed_at), 1`,
    b,
  );
  // jsonb_to_recordset reads each attempt's three keys once (six ->> per attempt took most of the time);
  // the materialized CTE keeps only the step and its attempts, so the grouping hashes narrow rows instead
  // of sorting every step's whole output on disk (the planner underestimates the rows that have attempts)
  const positions = await db.query<PositionStat>(
    `WITH x AS MATERIALIZED (
       SELECT ${STEP} AS step, s.output->'data'->'attempts' AS attempts
         FROM runs r JOIN run_steps s ON s.run_id = r.id
        WHERE r.batch_id = ANY($1::bigint[]) AND jsonb_typeof(s.output->'data'->'attempts') = 'array')
     SELECT x.step, a.n::int AS position, a.provider, a.operation,
            count(*) FILTER (WHERE a.result NOT LIKE 'skipped%')::int AS tried,
            count(*) FILTER (WHERE a.result = 'hit')::int AS wins,
            count(*) FILTER (WHERE a.result = 'rejected')::int AS rejected,
            count(*) FILTER (WHERE a.result = 'not_found')::int AS "notFound",
            count(*) FILTER (WHERE a.result = 'error')::int AS errors,
            count(*) FILTER (WHERE a.result LIKE 'skipped%')::int AS skipped
       FROM x CROSS JOIN LATERAL ROWS FROM (jsonb_to_recordset(x.attempts)
              AS (provider text, operation text, result text)) WITH ORDINALITY AS a(provider, operation, result, n)
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2`,
    b,
  );
  // outcomes are few: start from them, not from every value the batches wrote; the per-field value
  // counts only for the fields that have outcomes
  const outcomes = await db.query<Omit<QualityStat, 'values'>>(
    `SELECT f.field,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'verified')::int AS verified,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'bounced')::int AS bounced,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'corrected')::int AS corrected,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'replied')::int AS replied
       FROM value_outcomes o JOIN field_values f ON f.id = o.field_value_id JOIN runs r ON r.id = f.run_id
      WHERE r.batch_id = ANY($1::bigint[]) AND f.source IN ('provider', 'step')
      GROUP BY f.field ORDER BY f.field`,
    b,
  );
  const fieldValues = outcomes.rows.length
    ? await db.query<{ field: string; values: number }>(
        `SELECT f.field, count(*)::int AS values FROM runs r JOIN field_values f ON f.run_id = r.id
          WHERE r.batch_id = ANY($1::bigint[]) AND f.source IN ('provider', 'step') AND f.field = ANY($2::text[])
          GROUP BY f.field`,
        [batches, outcomes.rows.map((o) => o.field)],
      )
    : { rows: [] };
  const valuesOf = new Map(fieldValues.rows.map((x) => [x.field, x.values]));
  const quality = {
    rows: outcomes.rows.map((o): QualityStat => ({ ...o, values: valuesOf.get(o.field) ?? 0 })),
  };
  const r = runs.rows[0]!;
  const providers = ledger.rows.map(({ hits: _hits, ...p }) => p);
  const costUsd = providers.reduce((s, p) => s + p.costUsd, 0);
  const requests = providers.reduce((s, p) => s + p.requests, 0);
  const cacheHits = ledger.rows.reduce((s, p) => s + p.hits, 0);
  const v = values.rows[0]!;
  return {
    batches,
    records: r.records,
    runs: { total: r.total, enriched: r.enriched, partial: r.partial, failed: r.failed, open: r.open },
    coverage: r.records ? v.accounts / r.records : null,
    values: v.values,
    contactsWithValues: v.contacts,
    costUsd,
    requests,
    cacheHits,
    costPerRecordUsd: r.records ? costUsd / r.records : null,
    costPerFoundValueUsd: v.values ? costUsd / v.values : null,
    speed: { n: r.speed_n, p50S: r.p50, p90S: r.p90, wallS: wall.rows[0]!.wall },
    steps: steps.rows.map((s) => ({
      ...s,
      hitRate: s.found + s.notFound ? s.found / (s.found + s.notFound) : null,
    })),
    providers,
    positions: positions.rows,
    quality: quality.rows,
    firstRunAt: r.first,
    lastRunAt: r.last,
  };
}
