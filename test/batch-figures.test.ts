import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { settleBatch } from '../src/engine/batch.ts';
import {
  batchFigures,
  computeBatchFigures,
  decodeIds,
  encodeIds,
  pooledFigures,
  runFigures,
  valueFigures,
} from '../src/engine/batch-figures.ts';
import { batchStats } from '../src/learning/deployment-stats.ts';
import { histogramPercentile } from '../src/ledger/ledger-figures.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { seedDeploymentFixture } from './helpers/learning-fixture.ts';

it('takes percentiles from a histogram as percentile_cont does', () => {
  expect(histogramPercentile({}, 0.5)).toBeNull();
  expect(histogramPercentile({ '100': 1, '300': 1 }, 0.5)).toBe(200);
  expect(histogramPercentile({ '7': 3 }, 0.5)).toBe(7);
  // 1, 2, 2, 10: position 1.5 → between 2 and 2; p90 position 2.7 → 2 + 0.7 × 8
  expect(histogramPercentile({ '10': 1, '2': 2, '1': 1 }, 0.5)).toBe(2);
  expect(histogramPercentile({ '10': 1, '2': 2, '1': 1 }, 0.9)).toBeCloseTo(7.6, 9);
});

describeEachBackend('batch figures', (backend) => {
  let db: Db;
  let batchId: number;
  let runs: number[];
  beforeAll(async () => {
    db = await openTestDb(backend);
    ({ batchId, runs } = await seedDeploymentFixture(db));
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  const stored = async (id: number) =>
    (await db.query('SELECT 1 FROM batch_figures WHERE batch_id = $1', [id])).rows.length;

  it('stores an ended batch’s figures on first read, equal to the raw rows’ and to the hand-checked ones', async () => {
    expect(await stored(batchId)).toBe(0); // ended "before the migration": nothing stored yet
    const [first] = await batchFigures(db, [batchId]);
    expect(first?.stored).toBe(true);
    expect(await stored(batchId)).toBe(1);
    const [again] = await batchFigures(db, [batchId]); // read back from the tables
    const raw = await computeBatchFigures(db, batchId);
    expect({ ...again, stored: false }).toEqual(raw);
    expect(again).toEqual(first);
    const f = again!;
    expect(f.records).toBe(4);
    expect(f.runs).toEqual({ total: 4, enriched: 2, partial: 1, failed: 1, open: 0 });
    expect(f.failedByClass).toEqual({ unclassified: 1 });
    expect(f.speed.n).toBe(4);
    expect(f.speed.p50S).toBeCloseTo(5, 9); // 2, 4, 6, 8 s
    expect(f.speed.p90S).toBeCloseTo(7.4, 9);
    expect(f.speed.wallS).toBeCloseTo(100, 6);
    expect([f.values, f.accountsWithValues, f.contactsWithValues]).toEqual([4, 3, 2]);
    expect(f.valuesByField).toEqual({ email: 2, phone: 1, website: 1 });
    expect(f.steps.map((s) => [s.step, s.instances, s.found, s.notFound, s.skipped])).toEqual(
      expect.arrayContaining([
        ['emails.email', 3, 2, 1, 0],
        ['website', 1, 0, 0, 1],
      ]),
    );
    expect(
      f.positions.map((p) => [p.position, p.provider, p.tried, p.wins, p.rejected, p.notFound, p.skipped]),
    ).toEqual([
      [1, 'email-pattern', 3, 0, 1, 2, 0],
      [2, 'hunter', 3, 1, 0, 2, 0],
      [3, 'apollo', 1, 1, 0, 0, 1],
    ]);
    expect(f.providers).toEqual([
      {
        provider: 'apollo',
        operation: 'people-match',
        calls: 1,
        requests: 1,
        found: 1,
        notFound: 0,
        errors: 0,
        cacheHits: 0,
        costUsd: 0.02,
        latencyMs: { '200': 1 },
      },
      {
        provider: 'hunter',
        operation: 'email-finder',
        calls: 3,
        requests: 2,
        found: 2,
        notFound: 1,
        errors: 0,
        cacheHits: 1,
        costUsd: 0.01,
        latencyMs: { '100': 1, '300': 1 },
      },
    ]);
    expect(f.callFailures).toEqual([]);
  });

  it('pools several batches exactly: shared accounts counted once, medians over every row', async () => {
    // a second batch over the same accounts: one more run each, 10 s, and a slow apollo request
    const b2 = (
      await db.query<{ id: number }>(
        `INSERT INTO batches (pipeline, status, total, created_at, finished_at)
         VALUES ('golf-courses', 'done', 2, '2026-01-02T10:00:00Z', '2026-01-02T10:00:50Z') RETURNING id`,
      )
    ).rows[0]!.id;
    const accounts = (
      await db.query<{ account_id: number }>('SELECT account_id FROM runs WHERE id = ANY($1) ORDER BY id', [
        runs,
      ])
    ).rows.map((r) => r.account_id);
    for (const a of accounts.slice(0, 2)) {
      const r = await db.query<{ id: number }>(
        `INSERT INTO runs (batch_id, pipeline, account_id, state, calls, cache_hits, created_at, started_at, finished_at)
         VALUES ($1, 'golf-courses', $2, 'enriched', 1, 0, '2026-01-02T10:00:00Z', '2026-01-02T10:00:00Z',
                 '2026-01-02T10:00:10Z') RETURNING id`,
        [b2, a],
      );
      await db.query(
        `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, cost_usd, latency_ms)
         VALUES ('apollo', 'people-match', $1, $2, 1, 'miss', 'error', 0, 900)`,
        [r.rows[0]!.id, b2],
      );
      await db.query(
        `INSERT INTO field_values (entity_type, entity_id, field, value, source, provider, run_id)
         VALUES ('account', $1, 'website', '"https://x.test"', 'provider', 'perplexity', $2)`,
        [a, r.rows[0]!.id],
      );
    }
    const s = await batchStats(db, [batchId, b2]);
    expect(s.records).toBe(4); // not 6
    expect(s.runs.total).toBe(6);
    expect(s.speed.n).toBe(6);
    expect(s.speed.p50S).toBeCloseTo(7, 9); // 2, 4, 6, 8, 10, 10
    expect(s.values).toBe(6);
    expect(s.coverage).toBe(0.75); // the second batch's values went to accounts that had one
    expect(s.speed.wallS).toBeCloseTo(150, 6);
    const apollo = s.providers.find((p) => p.provider === 'apollo')!;
    expect(apollo).toMatchObject({ calls: 3, requests: 3, found: 1, errors: 2, p50LatencyMs: 900 });
    // the medians equal percentile_cont over the raw ledger rows of both batches
    const oracle = await db.query<{ provider: string; p50: number }>(
      `SELECT provider, percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::float8 AS p50 FROM ledger
        WHERE batch_id = ANY($1::bigint[]) AND attempt >= 1 GROUP BY provider`,
      [[batchId, b2]],
    );
    for (const o of oracle.rows)
      expect(s.providers.find((p) => p.provider === o.provider)?.p50LatencyMs).toBe(o.p50);
    const [f2] = await batchFigures(db, [b2]);
    expect(f2?.callFailures).toEqual([
      { provider: 'apollo', operation: 'people-match', status: 'error', errorClass: 'error', calls: 2 },
    ]);
  });

  it('computes an open batch live, stores it when settleBatch ends it, and recomputes after a reopen', async () => {
    const b3 = (
      await db.query<{ id: number }>(
        `INSERT INTO batches (pipeline, status, total) VALUES ('golf-courses', 'running', 1) RETURNING id`,
      )
    ).rows[0]!.id;
    const run = (
      await db.query<{ id: number }>(
        `INSERT INTO runs (batch_id, pipeline, account_id, state, started_at)
         SELECT $1, 'golf-courses', account_id, 'running', now() FROM runs WHERE id = $2 RETURNING id`,
        [b3, runs[0]],
      )
    ).rows[0]!.id;
    const [open] = await batchFigures(db, [b3]);
    expect(open?.stored).toBe(false);
    expect(open?.runs.open).toBe(1);
    expect(await settleBatch(db, b3)).toBe(false);
    expect(await stored(b3)).toBe(0);
    await db.query(`UPDATE runs SET state = 'enriched', finished_at = now(), calls = 1 WHERE id = $1`, [run]);
    await db.query(
      `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, cost_usd, latency_ms)
       VALUES ('hunter', 'email-finder', $1, $2, 1, 'miss', 'found', 0.5, 50)`,
      [run, b3],
    );
    expect(await settleBatch(db, b3)).toBe(true);
    expect(await stored(b3)).toBe(1); // stored by the batch-completion path, before anyone reads
    const [ended] = await batchFigures(db, [b3]);
    expect(ended).toMatchObject({ stored: true, runs: { enriched: 1, open: 0 } });
    expect(ended?.providers.map((p) => p.costUsd)).toEqual([0.5]);
    // reopened (a dead-letter replay), more traffic, ended again: the old figures are not served
    await db.query("UPDATE batches SET status = 'running', finished_at = NULL WHERE id = $1", [b3]);
    await db.query(
      `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, cost_usd, latency_ms)
       VALUES ('hunter', 'email-finder', $1, $2, 1, 'miss', 'found', 0.25, 50)`,
      [run, b3],
    );
    expect((await batchFigures(db, [b3]))[0]?.providers[0]?.costUsd).toBe(0.75); // live while open
    await db.query(
      "UPDATE batches SET status = 'done', finished_at = now() + interval '1 second' WHERE id = $1",
      [b3],
    );
    const [again] = await batchFigures(db, [b3]); // stale figures: computed again and stored
    expect(again).toMatchObject({ stored: true });
    expect(again?.providers[0]).toMatchObject({ calls: 2, costUsd: 0.75, latencyMs: { '50': 2 } });
    expect({ ...again, stored: false }).toEqual(await computeBatchFigures(db, b3));
  });
});

it('encodes sorted ids compactly and back', () => {
  const ids = [0, 1, 2, 127, 128, 300, 16_384, 2 ** 40, 2 ** 52 + 7];
  const b = encodeIds(ids);
  expect(b.length).toBeLessThan(ids.length * 8);
  expect([...decodeIds(b)]).toEqual(ids);
  expect([...decodeIds(encodeIds([]))]).toEqual([]);
  expect(() => encodeIds([3, 3])).toThrow(/increasing/);
});

describeEachBackend('pooled batch figures', (backend) => {
  let db: Db;
  beforeAll(async () => {
    db = await openTestDb(backend);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('pools stored id lists and run-time histograms as the raw rows count them', async () => {
    const batches = (
      await db.query<{ id: number }>(
        `INSERT INTO batches (pipeline, status, total, created_at, finished_at)
         SELECT 'p', 'done', 40, now() - interval '1 hour', now() FROM generate_series(1, 3) RETURNING id`,
      )
    ).rows.map((r) => Number(r.id));
    const accounts = (
      await db.query<{ id: number }>(
        `INSERT INTO accounts (name, domain) SELECT 'A' || i, 'pool' || i || '.test' FROM generate_series(1, 60) i
         RETURNING id`,
      )
    ).rows.map((r) => Number(r.id));
    // batch k works on accounts 20k … 20k + 39 (overlapping), run times from 0.3 s to ~170 s, odd milliseconds
    for (const [k, b] of batches.entries())
      await db.query(
        `INSERT INTO runs (batch_id, pipeline, account_id, state, calls, cache_hits, created_at, started_at, finished_at)
         SELECT $1, 'p', a, CASE WHEN a % 7 = 0 THEN 'failed' ELSE 'enriched' END, CASE WHEN a % 5 = 0 THEN 0 ELSE 2 END, 0,
                now() - interval '1 hour', now() - interval '1 hour',
                now() - interval '1 hour' + (0.3 + (a * 37 % 101) * 1.6873 + $3 * 0.0117) * interval '1 second'
           FROM unnest($2::bigint[]) a`,
        [b, accounts.slice(k * 10, k * 10 + 40), k],
      );
    await db.query(
      `INSERT INTO field_values (entity_type, entity_id, field, value, source, provider, run_id)
       SELECT CASE WHEN r.id % 2 = 0 THEN 'contact' ELSE 'account' END, r.account_id % 13, 'email', '"x"', 'provider', 'hunter', r.id
         FROM runs r WHERE r.batch_id = ANY($1::bigint[]) AND r.id % 3 <> 0`,
      [batches],
    );
    const figs = await batchFigures(db, batches);
    expect(figs.every((f) => f.stored)).toBe(true);
    const sets = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM batch_figures WHERE batch_id = ANY($1::bigint[]) AND run_ms IS NOT NULL',
      [batches],
    );
    expect(sets.rows[0]?.n).toBe(3);
    const pooled = await pooledFigures(db, batches, figs);
    const raw = { ...(await runFigures(db, batches)), ...(await valueFigures(db, batches)) };
    expect(pooled.records).toBe(60);
    const { speed, ...rest } = pooled;
    const { speed: rawSpeed, ...rawRest } = raw;
    expect(rest).toEqual(rawRest);
    expect(speed.n).toBe(rawSpeed.n);
    // the histogram's bound: within 0.05% (+0.5 ms) of percentile_cont over the raw runs
    for (const k of ['p50S', 'p90S'] as const)
      expect(Math.abs(speed[k]! - rawSpeed[k]!)).toBeLessThanOrEqual(rawSpeed[k]! * 0.0005 + 0.0005);
    // what the learning figures use over several batches
    const s = await batchStats(db, batches, figs);
    expect([s.records, s.values, s.contactsWithValues]).toEqual([
      raw.records,
      raw.values,
      raw.contactsWithValues,
    ]);
    expect(s.coverage).toBe(raw.accountsWithValues / raw.records);
  });
});
