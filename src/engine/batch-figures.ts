import type { Db, Queryable } from '../db/db.ts';
import {
  histogramPercentile,
  type LedgerCallFailure,
  type LedgerProviderFigure,
  ledgerCallFailures,
  ledgerProviderFigures,
} from '../ledger/ledger-figures.ts';

/**
 * Batch figures: what a batch's runs, memoized steps, field values and ledger rows add up to, computed
 * once when the batch ends (settleBatch calls `storeBatchFigures`) and kept in `batch_figures` and its
 * child tables (migration 0043). `batchFigures` is the read port other layers use (learning's retro and
 * pattern figures, the dashboard): stored figures for ended batches — computing and storing them on
 * first read for batches that ended before the migration or were reopened since — and live figures for
 * batches still running. Only this file and ledger/ledger-figures.ts read the raw rows to count them.
 */
export interface BatchFigures {
  batchId: number;
  /** Read from (or just written to) batch_figures; false: the batch is still open, computed live. */
  stored: boolean;
  /** Distinct accounts the batch's runs worked on. */
  records: number;
  runs: { total: number; enriched: number; partial: number; failed: number; open: number };
  /** Calls the partial runs could not make. */
  partialFailedCalls: number;
  /** Failed runs by error class ('unclassified' without one). */
  failedByClass: Record<string, number>;
  /** Finished runs that made a request (not only cache hits): how many, median and p90 seconds; batch wall time. */
  speed: { n: number; p50S: number | null; p90S: number | null; wallS: number };
  firstRunAt: string | null;
  lastRunAt: string | null;
  /** Field values written by the runs (provider and step sources). */
  values: number;
  accountsWithValues: number;
  contactsWithValues: number;
  valuesByField: Record<string, number>;
  steps: BatchStepFigure[];
  positions: BatchPositionFigure[];
  providers: LedgerProviderFigure[];
  callFailures: LedgerCallFailure[];
}

export interface BatchStepFigure {
  /** `website`, or `emails.email` for a foreach child (one instance per contact). */
  step: string;
  firstCompletedAt: string;
  instances: number;
  found: number;
  notFound: number;
  skipped: number;
  costUsd: number;
}

/** A waterfall's providers by position: how often each was tried and how often it won the value. */
export interface BatchPositionFigure {
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

/** The figures that do not add up over batches (distinct accounts, percentiles), over any set of batches. */
export interface RunFigures {
  records: number;
  runs: BatchFigures['runs'];
  partialFailedCalls: number;
  speed: { n: number; p50S: number | null; p90S: number | null };
  firstRunAt: string | null;
  lastRunAt: string | null;
}

export interface ValueFigures {
  values: number;
  accountsWithValues: number;
  contactsWithValues: number;
}

const STEP = `CASE WHEN position('/' IN s.step_key) > 0 THEN split_part(s.step_key, '/', 2) ELSE s.step_key END`;

/** The read port: one entry per batch id that exists, in the order given. */
export async function batchFigures(db: Db, batchIds: readonly number[]): Promise<BatchFigures[]> {
  if (!batchIds.length) return [];
  const state = await db.query<{ id: number; ended: boolean; fresh: boolean }>(
    `SELECT b.id, ${ENDED} AS ended,
            coalesce(f.batch_finished_at = b.finished_at AND f.run_ms IS NOT NULL, false) AS fresh
       FROM batches b LEFT JOIN batch_figures f ON f.batch_id = b.id
      WHERE b.id = ANY($1::bigint[])`,
    [batchIds],
  );
  const byId = new Map(state.rows.map((r) => [Number(r.id), r]));
  const out = new Map<number, BatchFigures>();
  const fresh = state.rows.filter((r) => r.ended && r.fresh).map((r) => Number(r.id));
  for (const f of await readStored(db, fresh)) out.set(f.batchId, f);
  for (const id of batchIds) {
    const s = byId.get(id);
    if (!s || out.has(id)) continue;
    // ended without (fresh) figures: ended before migration 0043 (or 0045's pooling columns), or reopened
    // and ended again
    out.set(
      id,
      s.ended
        ? ((await storeBatchFigures(db, id)) ?? (await computeBatchFigures(db, id)))
        : await computeBatchFigures(db, id),
    );
  }
  return batchIds.flatMap((id) => out.get(id) ?? []);
}

const ENDED = `(b.status IN ('done', 'stopped') AND b.finished_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.batch_id = b.id AND x.state = 'running'))`;

/**
 * Computes the batch's figures from the raw rows and stores them, when the batch has ended (done, or
 * stopped with nothing in flight). Returns null for a batch still open or missing. Idempotent: figures
 * stored for an earlier end of the batch are replaced.
 */
export async function storeBatchFigures(db: Db, batchId: number): Promise<BatchFigures | null> {
  return db.transaction(async (tx) => {
    // the row lock keeps a concurrent settle or reader from writing the same figures at the same time
    const b = await tx.query<{ finished_at: string; ended: boolean }>(
      `SELECT b.finished_at::text AS finished_at, ${ENDED} AS ended FROM batches b WHERE b.id = $1 FOR UPDATE`,
      [batchId],
    );
    if (!b.rows[0]?.ended) return null;
    const [f, sets] = await Promise.all([computeBatchFigures(tx, batchId), computeBatchSets(tx, batchId)]);
    await tx.query('DELETE FROM batch_figures WHERE batch_id = $1', [batchId]);
    await tx.query(
      `INSERT INTO batch_figures (batch_id, batch_finished_at, records, runs_total, runs_enriched, runs_partial,
                                  runs_failed, runs_open, partial_failed_calls, failed_by_class, speed_n,
                                  speed_p50_s, speed_p90_s, first_run_at, last_run_at, wall_s, "values",
                                  accounts_with_values, contacts_with_values, values_by_field,
                                  account_ids, value_account_ids, value_contact_ids, run_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
               decode($21, 'hex'), decode($22, 'hex'), decode($23, 'hex'), $24)`,
      [
        batchId,
        b.rows[0].finished_at,
        f.records,
        f.runs.total,
        f.runs.enriched,
        f.runs.partial,
        f.runs.failed,
        f.runs.open,
        f.partialFailedCalls,
        JSON.stringify(f.failedByClass),
        f.speed.n,
        f.speed.p50S,
        f.speed.p90S,
        f.firstRunAt,
        f.lastRunAt,
        f.speed.wallS,
        f.values,
        f.accountsWithValues,
        f.contactsWithValues,
        JSON.stringify(f.valuesByField),
        hex(encodeIds(sets.accountIds)),
        hex(encodeIds(sets.valueAccountIds)),
        hex(encodeIds(sets.valueContactIds)),
        JSON.stringify(sets.runMs),
      ],
    );
    const rows = (table: string, columns: string, spec: string, items: unknown[]) =>
      items.length
        ? tx.query(
            `INSERT INTO ${table} (batch_id, ${columns}) SELECT $1, ${columns} FROM jsonb_to_recordset($2::jsonb) AS x(${spec})`,
            [batchId, JSON.stringify(items)],
          )
        : null;
    await rows(
      'batch_step_figures',
      'step, first_completed_at, instances, found, not_found, skipped, cost_usd',
      'step text, first_completed_at timestamptz, instances int, found int, not_found int, skipped int, cost_usd numeric',
      f.steps.map((s) => ({
        step: s.step,
        first_completed_at: s.firstCompletedAt,
        instances: s.instances,
        found: s.found,
        not_found: s.notFound,
        skipped: s.skipped,
        cost_usd: s.costUsd,
      })),
    );
    await rows(
      'batch_position_figures',
      'step, position, provider, operation, tried, wins, rejected, not_found, errors, skipped',
      'step text, position int, provider text, operation text, tried int, wins int, rejected int, not_found int, errors int, skipped int',
      f.positions.map((p) => ({ ...p, not_found: p.notFound })),
    );
    await rows(
      'batch_provider_figures',
      'provider, operation, calls, requests, found, not_found, errors, cache_hits, cost_usd, latency_ms',
      'provider text, operation text, calls int, requests int, found int, not_found int, errors int, cache_hits int, cost_usd numeric, latency_ms jsonb',
      f.providers.map((p) => ({
        ...p,
        not_found: p.notFound,
        cache_hits: p.cacheHits,
        cost_usd: p.costUsd,
        latency_ms: p.latencyMs,
      })),
    );
    await rows(
      'batch_call_failure_figures',
      'provider, operation, status, error_class, calls',
      'provider text, operation text, status text, error_class text, calls int',
      f.callFailures.map((c) => ({ ...c, error_class: c.errorClass })),
    );
    return { ...f, stored: true };
  });
}

// jsonb_to_recordset reads each attempt's three keys once (six ->> per attempt took most of the time);
// the materialized CTE keeps only the step and its attempts, so the grouping hashes narrow rows instead
// of sorting every step's whole output on disk. The attempts test comes after the join: in the scan it
// was evaluated on every step of every batch, and its underestimated selectivity made the planner hash
// all of run_steps (spilling to disk) instead of the batch's runs (100,000 records in 2 batches, PGlite:
// 2.6–4.1 s → 1.6–1.8 s a batch)
const POSITIONS = `WITH j AS MATERIALIZED (
       SELECT ${STEP} AS step, s.output->'data'->'attempts' AS attempts
         FROM runs r JOIN run_steps s ON s.run_id = r.id
        WHERE r.batch_id = $1),
     x AS (SELECT step, attempts FROM j WHERE jsonb_typeof(attempts) = 'array')
     SELECT x.step, a.n::int AS position, a.provider, a.operation,
            count(*) FILTER (WHERE a.result NOT LIKE 'skipped%')::int AS tried,
            count(*) FILTER (WHERE a.result = 'hit')::int AS wins,
            count(*) FILTER (WHERE a.result = 'rejected')::int AS rejected,
            count(*) FILTER (WHERE a.result = 'not_found')::int AS "notFound",
            count(*) FILTER (WHERE a.result = 'error')::int AS errors,
            count(*) FILTER (WHERE a.result LIKE 'skipped%')::int AS skipped
       FROM x CROSS JOIN LATERAL ROWS FROM (jsonb_to_recordset(x.attempts)
              AS (provider text, operation text, result text)) WITH ORDINALITY AS a(provider, operation, result, n)
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`;

/**
 * One batch's waterfall positions alone (the dashboard's providers page): the stored figures once the
 * batch ended, else from its steps, without the rest of the figures a live batch would compute.
 */
export async function batchPositions(db: Db, batchId: number): Promise<BatchPositionFigure[]> {
  const b = await db.query<{ ended: boolean }>(`SELECT ${ENDED} AS ended FROM batches b WHERE b.id = $1`, [
    batchId,
  ]);
  if (!b.rows[0]) return [];
  if (b.rows[0].ended) return (await batchFigures(db, [batchId]))[0]?.positions ?? [];
  return (await db.query<BatchPositionFigure>(POSITIONS, [batchId])).rows;
}

/** The batch's figures from its raw rows (not stored). */
export async function computeBatchFigures(db: Queryable, batchId: number): Promise<BatchFigures> {
  const b = [[batchId]];
  // independent reads, started together: on a pool they run at once (one connection queues them)
  const runsQ = runFigures(db, [batchId]);
  const failedQ = db.query<{ errorClass: string; runs: number }>(
    `SELECT coalesce(error_class, 'unclassified') AS "errorClass", count(*)::int AS runs
       FROM runs WHERE batch_id = ANY($1::bigint[]) AND state = 'failed' GROUP BY 1`,
    b,
  );
  const wallQ = db.query<{ wall: number }>(
    `SELECT coalesce(sum(extract(epoch FROM coalesce(finished_at, now()) - created_at)), 0)::float8 AS wall
       FROM batches WHERE id = $1`,
    [batchId],
  );
  const valuesQ = valueFigures(db, [batchId]);
  const byFieldQ = db.query<{ field: string; values: number }>(
    `SELECT f.field, count(*)::int AS values FROM runs r JOIN field_values f ON f.run_id = r.id
      WHERE r.batch_id = $1 AND f.source IN ('provider', 'step') GROUP BY f.field`,
    [batchId],
  );
  const stepsQ = db.query<BatchStepFigure>(
    `SELECT ${STEP} AS step, min(s.completed_at)::text AS "firstCompletedAt", count(*)::int AS instances,
            count(*) FILTER (WHERE s.status = 'found')::int AS found,
            count(*) FILTER (WHERE s.status = 'not_found')::int AS "notFound",
            count(*) FILTER (WHERE s.status = 'skipped')::int AS skipped,
            coalesce(sum(s.cost_usd), 0)::float8 AS "costUsd"
       FROM runs r JOIN run_steps s ON s.run_id = r.id
      WHERE r.batch_id = $1
      GROUP BY 1 ORDER BY min(s.completed_at), 1`,
    [batchId],
  );
  const positionsQ = db.query<BatchPositionFigure>(POSITIONS, [batchId]);
  const [runs, failed, wall, values, byField, steps, positions, providers, callFailures] = await Promise.all([
    runsQ,
    failedQ,
    wallQ,
    valuesQ,
    byFieldQ,
    stepsQ,
    positionsQ,
    ledgerProviderFigures(db, batchId),
    ledgerCallFailures(db, batchId),
  ]);
  return {
    batchId,
    stored: false,
    records: runs.records,
    runs: runs.runs,
    partialFailedCalls: runs.partialFailedCalls,
    failedByClass: Object.fromEntries(failed.rows.map((r) => [r.errorClass, r.runs])),
    speed: { ...runs.speed, wallS: wall.rows[0]?.wall ?? 0 },
    firstRunAt: runs.firstRunAt,
    lastRunAt: runs.lastRunAt,
    ...values,
    valuesByField: Object.fromEntries(byField.rows.map((r) => [r.field, r.values])),
    steps: steps.rows,
    positions: positions.rows,
    providers,
    callFailures,
  };
}

/**
 * What a batch's figures keep so several batches pool exactly (migration 0045): sorted distinct ids of
 * the accounts its runs worked on, of the accounts and contacts its values went to, and its finished
 * runs' times (those that made a request) as a histogram of milliseconds.
 */
interface BatchSets {
  accountIds: number[];
  valueAccountIds: number[];
  valueContactIds: number[];
  runMs: Record<string, number>;
}

/**
 * A run's time in the histogram: rounded to the millisecond, and from 10 s on to 4 significant digits
 * (22,437 ms → 22,440). Each time moves by at most 0.05% (0.5 ms below 10 s), and percentile_cont's
 * interpolation over the rounded times (the same order) is then within 0.05% (+0.5 ms) of the exact
 * percentile. The histogram has at most one bucket a run, 10,000 below 10 s and 9,000 per decade above.
 * Integer arithmetic on `ms` (bigint) and its power of ten `f`, rounding half up as numeric round() did:
 * numeric log() and round() per run took most of a batch's figures (1.2 s per 10,000 runs on PGlite).
 */
export const RUN_MS_BUCKET = `CASE WHEN ms < 10000 THEN ms ELSE (ms + f / 2) / f * f END`;

/**
 * One statement over the batch's rows: its runs and the values they wrote are read once each
 * (materialized), and the times are grouped by millisecond before they are bucketed.
 */
const BATCH_SETS = `WITH r AS MATERIALIZED (
       SELECT id, account_id, started_at, finished_at, calls, cache_hits FROM runs WHERE batch_id = $1),
     v AS MATERIALIZED (
       SELECT r.account_id, f.entity_type, f.entity_id
         FROM r JOIN field_values f ON f.run_id = r.id
        WHERE f.source IN ('provider', 'step')),
     t AS (
       SELECT round(extract(epoch FROM finished_at - started_at) * 1000)::bigint AS ms, count(*) AS n
         FROM r WHERE finished_at IS NOT NULL AND calls > cache_hits GROUP BY 1)
     SELECT (SELECT coalesce(string_agg(x::text, ',' ORDER BY x), '') FROM (SELECT DISTINCT account_id AS x FROM r) d) AS a,
            (SELECT coalesce(string_agg(x::text, ',' ORDER BY x), '') FROM (SELECT DISTINCT account_id AS x FROM v) d) AS va,
            (SELECT coalesce(string_agg(x::text, ',' ORDER BY x), '')
               FROM (SELECT DISTINCT entity_id AS x FROM v WHERE entity_type = 'contact') d) AS vc,
            (SELECT coalesce(jsonb_object_agg(b, n), '{}'::jsonb)
               FROM (SELECT ${RUN_MS_BUCKET} AS b, sum(n)::int AS n
                       FROM (SELECT ms, n, (10 ^ (length(ms::text) - 4))::bigint AS f FROM t) u
                      GROUP BY 1) h) AS h`;

async function computeBatchSets(db: Queryable, batchId: number): Promise<BatchSets> {
  const r = await db.query<{ a: string; va: string; vc: string; h: Record<string, number> }>(BATCH_SETS, [
    batchId,
  ]);
  const x = r.rows[0]!;
  const list = (s: string) => (s ? s.split(',').map(Number) : []);
  return {
    accountIds: list(x.a),
    valueAccountIds: list(x.va),
    valueContactIds: list(x.vc),
    runMs: x.h ?? {},
  };
}

/** Sorted distinct ids as unsigned LEB128 varints of their differences (ids from 0 to 2^53). */
export function encodeIds(ids: readonly number[]): Uint8Array {
  const out: number[] = [];
  let prev = -1;
  for (const id of ids) {
    let d = id - prev;
    if (!Number.isSafeInteger(d) || d <= 0)
      throw new Error(`encodeIds: ids must be increasing integers (${id} after ${prev})`);
    prev = id;
    while (d >= 128) {
      out.push((d % 128) | 128);
      d = Math.floor(d / 128);
    }
    out.push(d);
  }
  return Uint8Array.from(out);
}

export function decodeIds(bytes: Uint8Array): Float64Array {
  const out = new Float64Array(bytes.length);
  let n = 0;
  let prev = -1;
  let d = 0;
  let scale = 1;
  for (const b of bytes) {
    d += (b & 127) * scale;
    if (b & 128) scale *= 128;
    else {
      prev += d;
      out[n++] = prev;
      d = 0;
      scale = 1;
    }
  }
  return out.subarray(0, n);
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Distinct values over several sorted id lists. */
function unionSize(lists: Float64Array[]): number {
  if (lists.length === 1) return lists[0]!.length;
  const all = new Float64Array(lists.reduce((s, l) => s + l.length, 0));
  let at = 0;
  for (const l of lists) {
    all.set(l, at);
    at += l.length;
  }
  all.sort();
  let n = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) n++;
  return n;
}

/**
 * Run and value figures over several batches from their stored figures, exactly as `runFigures` and
 * `valueFigures` count them from the raw rows (distinct accounts and contacts from the stored id lists,
 * added counts), except the run-time percentiles: from the stored histograms, within 0.05% (+0.5 ms)
 * of percentile_cont over the raw runs (RUN_MS_BUCKET). A batch still open (figures not stored) makes
 * it count everything from the raw rows instead.
 */
export async function pooledFigures(
  db: Queryable,
  batchIds: readonly number[],
  figs: readonly BatchFigures[],
): Promise<RunFigures & ValueFigures> {
  const live = async () => ({ ...(await runFigures(db, batchIds)), ...(await valueFigures(db, batchIds)) });
  if (figs.some((f) => !f.stored)) return live();
  const r = await db.query<{
    batch_id: number;
    a: Uint8Array | null;
    va: Uint8Array | null;
    vc: Uint8Array | null;
    h: Record<string, number> | null;
  }>(
    `SELECT batch_id, account_ids AS a, value_account_ids AS va, value_contact_ids AS vc, run_ms AS h
       FROM batch_figures WHERE batch_id = ANY($1::bigint[])`,
    [figs.map((f) => f.batchId)],
  );
  const rows = r.rows.filter((x) => x.a && x.va && x.vc && x.h);
  if (rows.length !== figs.length) return live(); // reopened or replaced since: count the raw rows
  const hist: Record<string, number> = {};
  for (const x of rows) for (const [ms, n] of Object.entries(x.h!)) hist[ms] = (hist[ms] ?? 0) + n;
  const pct = (p: number) => {
    const v = histogramPercentile(hist, p);
    return v === null ? null : v / 1000;
  };
  const sum = (g: (f: BatchFigures) => number) => figs.reduce((s, f) => s + g(f), 0);
  const first = figs.map((f) => f.firstRunAt).filter((x): x is string => x !== null);
  const last = figs.map((f) => f.lastRunAt).filter((x): x is string => x !== null);
  return {
    records: unionSize(rows.map((x) => decodeIds(x.a!))),
    runs: {
      total: sum((f) => f.runs.total),
      enriched: sum((f) => f.runs.enriched),
      partial: sum((f) => f.runs.partial),
      failed: sum((f) => f.runs.failed),
      open: sum((f) => f.runs.open),
    },
    partialFailedCalls: sum((f) => f.partialFailedCalls),
    speed: { n: sum((f) => f.speed.n), p50S: pct(0.5), p90S: pct(0.9) },
    firstRunAt: first.length ? first.reduce((m, x) => (Date.parse(x) < Date.parse(m) ? x : m)) : null,
    lastRunAt: last.length ? last.reduce((m, x) => (Date.parse(x) > Date.parse(m) ? x : m)) : null,
    values: sum((f) => f.values),
    accountsWithValues: unionSize(rows.map((x) => decodeIds(x.va!))),
    contactsWithValues: unionSize(rows.map((x) => decodeIds(x.vc!))),
  };
}

/** Run counts, distinct accounts and speed percentiles over a set of batches, from the runs. */
export async function runFigures(db: Queryable, batchIds: readonly number[]): Promise<RunFigures> {
  const r = await db.query<{
    records: number;
    total: number;
    enriched: number;
    partial: number;
    failed: number;
    open: number;
    partial_calls: number;
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
            coalesce(sum(failed_calls) FILTER (WHERE state = 'partial'), 0)::int AS partial_calls,
            count(*) FILTER (WHERE finished_at IS NOT NULL AND calls > cache_hits)::int AS speed_n,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
              FILTER (WHERE finished_at IS NOT NULL AND calls > cache_hits)::float8 AS p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
              FILTER (WHERE finished_at IS NOT NULL AND calls > cache_hits)::float8 AS p90,
            min(created_at)::text AS first, max(finished_at)::text AS last
       FROM runs WHERE batch_id = ANY($1::bigint[])`,
    [batchIds],
  );
  const x = r.rows[0]!;
  return {
    records: x.records,
    runs: { total: x.total, enriched: x.enriched, partial: x.partial, failed: x.failed, open: x.open },
    partialFailedCalls: x.partial_calls,
    speed: { n: x.speed_n, p50S: x.p50, p90S: x.p90 },
    firstRunAt: x.first,
    lastRunAt: x.last,
  };
}

/** Field values the batches' runs wrote, and the distinct accounts and contacts they went to. */
export async function valueFigures(db: Queryable, batchIds: readonly number[]): Promise<ValueFigures> {
  const r = await db.query<ValueFigures>(
    `SELECT count(*)::int AS values,
            count(DISTINCT r.account_id)::int AS "accountsWithValues",
            count(DISTINCT f.entity_id) FILTER (WHERE f.entity_type = 'contact')::int AS "contactsWithValues"
       FROM runs r JOIN field_values f ON f.run_id = r.id
      WHERE r.batch_id = ANY($1::bigint[]) AND f.source IN ('provider', 'step')`,
    [batchIds],
  );
  return r.rows[0]!;
}

async function readStored(db: Queryable, ids: number[]): Promise<BatchFigures[]> {
  if (!ids.length) return [];
  const p = [ids];
  const head = await db.query<{
    batchId: number;
    records: number;
    total: number;
    enriched: number;
    partial: number;
    failed: number;
    open: number;
    partialFailedCalls: number;
    failedByClass: Record<string, number>;
    n: number;
    p50S: number | null;
    p90S: number | null;
    wallS: number;
    firstRunAt: string | null;
    lastRunAt: string | null;
    values: number;
    accountsWithValues: number;
    contactsWithValues: number;
    valuesByField: Record<string, number>;
  }>(
    `SELECT batch_id AS "batchId", records, runs_total AS total, runs_enriched AS enriched,
            runs_partial AS partial, runs_failed AS failed, runs_open AS open,
            partial_failed_calls AS "partialFailedCalls", failed_by_class AS "failedByClass", speed_n AS n,
            speed_p50_s AS "p50S", speed_p90_s AS "p90S", wall_s AS "wallS", first_run_at::text AS "firstRunAt",
            last_run_at::text AS "lastRunAt", "values", accounts_with_values AS "accountsWithValues",
            contacts_with_values AS "contactsWithValues", values_by_field AS "valuesByField"
       FROM batch_figures WHERE batch_id = ANY($1::bigint[])`,
    p,
  );
  const steps = await db.query<BatchStepFigure & { batchId: number }>(
    `SELECT batch_id AS "batchId", step, first_completed_at::text AS "firstCompletedAt", instances, found,
            not_found AS "notFound", skipped, cost_usd::float8 AS "costUsd"
       FROM batch_step_figures WHERE batch_id = ANY($1::bigint[]) ORDER BY first_completed_at, step`,
    p,
  );
  const positions = await db.query<BatchPositionFigure & { batchId: number }>(
    `SELECT batch_id AS "batchId", step, position, provider, operation, tried, wins, rejected,
            not_found AS "notFound", errors, skipped
       FROM batch_position_figures WHERE batch_id = ANY($1::bigint[]) ORDER BY step, position, provider, operation`,
    p,
  );
  const providers = await db.query<LedgerProviderFigure & { batchId: number }>(
    `SELECT batch_id AS "batchId", provider, operation, calls, requests, found, not_found AS "notFound", errors,
            cache_hits AS "cacheHits", cost_usd::float8 AS "costUsd", latency_ms AS "latencyMs"
       FROM batch_provider_figures WHERE batch_id = ANY($1::bigint[]) ORDER BY provider, operation`,
    p,
  );
  const failures = await db.query<LedgerCallFailure & { batchId: number }>(
    `SELECT batch_id AS "batchId", provider, operation, status, error_class AS "errorClass", calls
       FROM batch_call_failure_figures WHERE batch_id = ANY($1::bigint[])
      ORDER BY calls DESC, provider, operation`,
    p,
  );
  const of = <T extends { batchId: number }>(rows: T[], id: number) =>
    rows.filter((r) => Number(r.batchId) === id).map(({ batchId: _b, ...rest }) => rest);
  return head.rows.map((h) => {
    const id = Number(h.batchId);
    return {
      batchId: id,
      stored: true,
      records: h.records,
      runs: { total: h.total, enriched: h.enriched, partial: h.partial, failed: h.failed, open: h.open },
      partialFailedCalls: h.partialFailedCalls,
      failedByClass: h.failedByClass,
      speed: { n: h.n, p50S: h.p50S, p90S: h.p90S, wallS: h.wallS },
      firstRunAt: h.firstRunAt,
      lastRunAt: h.lastRunAt,
      values: h.values,
      accountsWithValues: h.accountsWithValues,
      contactsWithValues: h.contactsWithValues,
      valuesByField: h.valuesByField,
      steps: of(steps.rows, id),
      positions: of(positions.rows, id),
      providers: of(providers.rows, id),
      callFailures: of(failures.rows, id),
    };
  });
}
