import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { deploymentStats } from '../src/learning/deployment-stats.ts';
import {
  attachBatch,
  createDeployment,
  ensureEngagement,
  patternVersionId,
} from '../src/learning/deployments.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { maturityOf } from '../src/learning/maturity.ts';
import { judge, listPatternRows, patternReport } from '../src/learning/pattern-stats.ts';
import { feedVerifierOutcomes } from '../src/learning/value-outcomes.ts';
import { wilsonLower } from '../src/learning/wilson.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { seedDeploymentFixture } from './helpers/learning-fixture.ts';

it('Wilson lower bounds match hand-computed values, and maturity follows the seeds’ rules', () => {
  expect(wilsonLower(1, 1)).toBeCloseTo(0.2065, 4);
  expect(wilsonLower(5, 5)).toBeCloseTo(0.5655, 4);
  expect(wilsonLower(8, 10)).toBeCloseTo(0.4902, 4);
  expect(wilsonLower(0, 0)).toBeNull();
  const m = (evaluated: number, successes: number, successfulEngagements: number, signatureFlag = false) =>
    maturityOf({ evaluated, successes, successfulEngagements, signatureFlag }).maturity;
  expect(m(1, 1, 1)).toBe('experimental');
  expect(m(3, 2, 2)).toBe('proven');
  expect(m(5, 5, 3)).toBe('battle-tested');
  expect(m(6, 5, 3)).toBe('proven'); // 5 of 6: lower bound 43.6% < 50%
  expect(m(5, 5, 3, true)).toBe('signature');
  expect(m(1, 1, 1, true)).toBe('experimental'); // the flag alone is not enough
});

describeEachBackend('measured deployment figures', (backend) => {
  let db: Db;
  let deployment: number;
  beforeAll(async () => {
    db = await openTestDb(backend);
    await syncLibrary(db);
    const { batchId } = await seedDeploymentFixture(db);
    const engagement = await ensureEngagement(db, { slug: 'acme', name: 'Acme', industry: 'golf' });
    deployment = await createDeployment(db, {
      engagementId: engagement,
      patternVersionId: await patternVersionId(db, 'golf-courses'),
      pipeline: 'golf-courses',
      criteria: { min_records: 4, min_coverage: 0.7 },
    });
    await attachBatch(db, deployment, batchId);
    expect(await feedVerifierOutcomes(db, [batchId])).toBe(1);
    expect(await feedVerifierOutcomes(db, [batchId])).toBe(0); // idempotent
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('computes coverage, cost, speed, steps, providers, positions and quality by hand-checked figures', async () => {
    const s = await deploymentStats(db, deployment);
    expect(s.records).toBe(4);
    expect(s.runs).toEqual({ total: 4, enriched: 2, partial: 1, failed: 1, open: 0 });
    expect(s.coverage).toBe(0.75); // accounts 1, 2, 3 got a value
    expect(s.values).toBe(4);
    expect(s.contactsWithValues).toBe(2);
    expect(s.costUsd).toBeCloseTo(0.03, 9);
    expect(s.requests).toBe(3);
    expect(s.cacheHits).toBe(1);
    expect(s.costPerRecordUsd).toBeCloseTo(0.0075, 9);
    expect(s.costPerFoundValueUsd).toBeCloseTo(0.0075, 9);
    expect(s.speed.n).toBe(4);
    expect(s.speed.p50S).toBeCloseTo(5, 6); // durations 2, 4, 6, 8 s
    expect(s.speed.p90S).toBeCloseTo(7.4, 6);
    expect(s.speed.wallS).toBeCloseTo(100, 6);
    const email = s.steps.find((x) => x.step === 'emails.email');
    expect(email).toMatchObject({ instances: 3, found: 2, notFound: 1, skipped: 0 });
    expect(email?.hitRate).toBeCloseTo(2 / 3, 9);
    expect(s.steps.find((x) => x.step === 'website')).toMatchObject({ skipped: 1, hitRate: null });
    expect(s.providers.find((p) => p.provider === 'hunter')).toMatchObject({
      calls: 3,
      requests: 2,
      found: 2,
      notFound: 1,
      costUsd: 0.01,
      p50LatencyMs: 200,
    });
    expect(
      s.positions.map((p) => [p.position, p.provider, p.tried, p.wins, p.rejected, p.notFound, p.skipped]),
    ).toEqual([
      [1, 'email-pattern', 3, 0, 1, 2, 0],
      [2, 'hunter', 3, 1, 0, 2, 0],
      [3, 'apollo', 1, 1, 0, 0, 1],
    ]);
    expect(s.quality).toEqual([
      { field: 'email', values: 2, verified: 1, bounced: 0, corrected: 0, replied: 0 },
    ]);
  });

  it('judges deployments against their criteria and pools them per pattern with a Wilson bound', async () => {
    const s = await deploymentStats(db, deployment);
    expect(judge(s, { min_records: 4, min_coverage: 0.7 }).success).toBe(true);
    expect(judge(s, { min_records: 4, min_coverage: 0.8 })).toMatchObject({ success: false });
    expect(judge(s, { min_records: 5 }).success).toBeNull();
    expect(judge(s, { min_records: 4, max_cost_per_record_usd: 0.005 }).success).toBe(false);
    const row = (await listPatternRows(db, 'golf-courses'))[0]!;
    const report = await patternReport(db, row);
    expect(report.evaluated).toBe(1);
    expect(report.successes).toBe(1);
    expect(report.successInterval?.low).toBeCloseTo(0.2065, 4);
    expect(report.maturity).toBe('experimental');
    expect(report.documented.cost_per_record_usd).toBe(0.155);
    expect(report.measured?.records).toBe(4);
  });
});
