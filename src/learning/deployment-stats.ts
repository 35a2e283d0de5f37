import type { Db, Queryable } from '../db/db.ts';
import {
  type BatchFigures,
  type BatchPositionFigure,
  batchFigures,
  pooledFigures,
} from '../engine/batch-figures.ts';
import { histogramPercentile, type LedgerProviderFigure } from '../ledger/ledger-figures.ts';

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

/** The ledger's figure of a provider and operation (LedgerProviderFigure), with the median latency taken from its histogram. */
export type ProviderStat = Omit<LedgerProviderFigure, 'cacheHits' | 'latencyMs'> & {
  /** Median latency of the calls that reached the provider (ms), over `requests`. */
  p50LatencyMs: number | null;
};

/** A waterfall's providers by position (the engine's batch figure, pooled over batches). */
export type PositionStat = BatchPositionFigure;

export interface QualityStat {
  field: string;
  values: number;
  verified: number;
  bounced: number;
  corrected: number;
  replied: number;
}

export async function deploymentStats(db: Db, deploymentId: number): Promise<DeploymentStats> {
  const batches = await deploymentBatches(db, deploymentId);
  return { deploymentId, ...(await batchStats(db, batches)) };
}

export async function deploymentBatches(db: Queryable, deploymentId: number): Promise<number[]> {
  const r = await db.query<{ batch_id: number }>(
    'SELECT batch_id FROM deployment_batches WHERE deployment_id = $1 ORDER BY batch_id',
    [deploymentId],
  );
  return r.rows.map((x) => Number(x.batch_id));
}

/**
 * The same figures over any set of batches (a pattern's figures pool all its deployments' batches), from
 * the engine's batch figures (read port engine/batch-figures.ts; stored when a batch ends). Counts and
 * costs add up over batches; distinct accounts, contacts and run-time percentiles do not, so over several
 * batches those come from the id lists and run-time histograms each batch's figures keep (pooledFigures;
 * counted from the raw rows while a batch is open); latency medians come from the stored histograms. Pass `figures` when they were read already.
 */
export async function batchStats(
  db: Db,
  batches: number[],
  figures?: BatchFigures[],
): Promise<Omit<DeploymentStats, 'deploymentId'>> {
  const figs = figures ?? (await batchFigures(db, batches));
  const one = figs.length === 1 && batches.length === 1 ? figs[0]! : null;
  const pooled = one ?? (await pooledFigures(db, batches, figs));
  const runs = pooled;
  const v = pooled;
  const wallS = figs.reduce((s, f) => s + f.speed.wallS, 0);

  const steps = new Map<string, StepStat & { first: string }>();
  for (const f of figs)
    for (const x of f.steps) {
      const s = steps.get(x.step);
      if (!s) {
        const { firstCompletedAt, ...rest } = x;
        steps.set(x.step, { ...rest, hitRate: null, first: firstCompletedAt });
        continue;
      }
      s.instances += x.instances;
      s.found += x.found;
      s.notFound += x.notFound;
      s.skipped += x.skipped;
      s.costUsd += x.costUsd;
      if (x.firstCompletedAt < s.first) s.first = x.firstCompletedAt;
    }
  const positions = new Map<string, PositionStat>();
  for (const f of figs)
    for (const x of f.positions) {
      const key = JSON.stringify([x.step, x.position, x.provider, x.operation]);
      const p = positions.get(key);
      if (!p) positions.set(key, { ...x });
      else
        for (const k of ['tried', 'wins', 'rejected', 'notFound', 'errors', 'skipped'] as const) p[k] += x[k];
    }
  const providers = new Map<string, ProviderStat & { hits: number; hist: Record<string, number> }>();
  for (const f of figs)
    for (const x of f.providers) {
      const key = JSON.stringify([x.provider, x.operation]);
      const p = providers.get(key);
      if (!p) {
        const { cacheHits, latencyMs, ...rest } = x;
        providers.set(key, { ...rest, p50LatencyMs: null, hits: cacheHits, hist: { ...latencyMs } });
        continue;
      }
      for (const k of ['calls', 'requests', 'found', 'notFound', 'errors', 'costUsd'] as const) p[k] += x[k];
      p.hits += x.cacheHits;
      for (const [ms, n] of Object.entries(x.latencyMs)) p.hist[ms] = (p.hist[ms] ?? 0) + n;
    }
  const valuesByField: Record<string, number> = {};
  for (const f of figs)
    for (const [field, n] of Object.entries(f.valuesByField))
      valuesByField[field] = (valuesByField[field] ?? 0) + n;

  const providerRows = [...providers.values()]
    .sort((a, b) => cmp(a.provider, b.provider) || cmp(a.operation, b.operation))
    .map(({ hits: _h, hist, ...p }) => ({ ...p, p50LatencyMs: histogramPercentile(hist, 0.5) }));
  const costUsd = providerRows.reduce((s, p) => s + p.costUsd, 0);
  const requests = providerRows.reduce((s, p) => s + p.requests, 0);
  const cacheHits = [...providers.values()].reduce((s, p) => s + p.hits, 0);
  return {
    batches,
    records: runs.records,
    runs: runs.runs,
    coverage: runs.records ? v.accountsWithValues / runs.records : null,
    values: v.values,
    contactsWithValues: v.contactsWithValues,
    costUsd,
    requests,
    cacheHits,
    costPerRecordUsd: runs.records ? costUsd / runs.records : null,
    costPerFoundValueUsd: v.values ? costUsd / v.values : null,
    speed: { ...runs.speed, wallS },
    steps: [...steps.values()]
      .sort((a, b) => cmp(a.first, b.first) || cmp(a.step, b.step))
      .map(({ first: _f, ...s }) => ({
        ...s,
        hitRate: s.found + s.notFound ? s.found / (s.found + s.notFound) : null,
      })),
    providers: providerRows,
    positions: [...positions.values()].sort(
      (a, b) =>
        cmp(a.step, b.step) ||
        a.position - b.position ||
        cmp(a.provider, b.provider) ||
        cmp(a.operation, b.operation),
    ),
    quality: await quality(db, batches, valuesByField),
    firstRunAt: runs.firstRunAt,
    lastRunAt: runs.lastRunAt,
  };
}

// byte order, as the C collation the figures' SQL sorted by
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Verified, bounced, corrected and replied values: outcomes arrive after the batch, so never stored. */
async function quality(
  db: Queryable,
  batches: number[],
  valuesByField: Record<string, number>,
): Promise<QualityStat[]> {
  // outcomes are few: start from them, and reach each one's value and run by primary key (LATERAL … OFFSET 0 keeps
  // an unanalyzed database from planning a loop over every value of the batches, or a scan of them all),
  // through the records' read view of values with their run's batch (migration 0050)
  const outcomes = await db.query<Omit<QualityStat, 'values'>>(
    `SELECT f.field,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'verified')::int AS verified,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'bounced')::int AS bounced,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'corrected')::int AS corrected,
            count(DISTINCT o.field_value_id) FILTER (WHERE o.outcome = 'replied')::int AS replied
       FROM value_outcomes o
            CROSS JOIN LATERAL (SELECT x.field FROM run_field_values x
                                 WHERE x.id = o.field_value_id AND x.source IN ('provider', 'step')
                                   AND x.batch_id = ANY($1::bigint[]) OFFSET 0) f
      WHERE o.field_value_id IS NOT NULL
      GROUP BY f.field ORDER BY f.field`,
    [batches],
  );
  return outcomes.rows.map((o) => ({ ...o, values: valuesByField[o.field] ?? 0 }));
}

/** Failures over the batches, from their figures: failed runs by class, partial runs, failed and refused calls. */
export function batchFailures(figs: BatchFigures[]): {
  runs: { errorClass: string; runs: number }[];
  partialRuns: number;
  failedCalls: number;
  calls: { provider: string; operation: string; status: string; errorClass: string; calls: number }[];
} {
  const byClass = new Map<string, number>();
  const calls = new Map<
    string,
    { provider: string; operation: string; status: string; errorClass: string; calls: number }
  >();
  for (const f of figs) {
    for (const [c, n] of Object.entries(f.failedByClass)) byClass.set(c, (byClass.get(c) ?? 0) + n);
    for (const c of f.callFailures) {
      const key = JSON.stringify([c.provider, c.operation, c.status, c.errorClass]);
      const x = calls.get(key);
      if (x) x.calls += c.calls;
      else calls.set(key, { ...c });
    }
  }
  return {
    runs: [...byClass]
      .map(([errorClass, runs]) => ({ errorClass, runs }))
      .sort((a, b) => b.runs - a.runs || cmp(a.errorClass, b.errorClass)),
    partialRuns: figs.reduce((s, f) => s + f.runs.partial, 0),
    failedCalls: figs.reduce((s, f) => s + f.partialFailedCalls, 0),
    calls: [...calls.values()].sort(
      (a, b) => b.calls - a.calls || cmp(a.provider, b.provider) || cmp(a.operation, b.operation),
    ),
  };
}
