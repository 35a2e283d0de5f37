import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { settleBatch } from '../src/engine/batch.ts';
import {
  attachBatch,
  createDeployment,
  ensureEngagement,
  patternVersionId,
} from '../src/learning/deployments.ts';
import { extractPattern } from '../src/learning/extract-pattern.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { listPatternRows } from '../src/learning/pattern-stats.ts';
import { humanSections, mergeHumanSections } from '../src/learning/retro/human-sections.ts';
import { generateRetro } from '../src/learning/retro/write-retro.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { seedDeploymentFixture } from './helpers/learning-fixture.ts';

it('keeps human sections on regeneration, and never drops one the layout lost', () => {
  const gen = (body: string) => `# R\n<!-- sluice:human a -->\n${body}\n<!-- /sluice:human a -->\nfig 2\n`;
  const old = `${gen('mine')}<!-- sluice:human gone -->\nold text\n<!-- /sluice:human gone -->\n`;
  const merged = mergeHumanSections(gen('placeholder'), old);
  expect(humanSections(merged).get('a')).toBe('mine\n');
  expect(humanSections(merged).get('gone')).toBe('old text\n');
  expect(merged).toContain('fig 2');
  expect(mergeHumanSections(gen('placeholder'), null)).toBe(gen('placeholder'));
});

describeEachBackend('retrospective generator', (backend) => {
  let db: Db;
  let dir: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    dir = await mkdtemp(join(tmpdir(), 'sluice-retro-'));
    await syncLibrary(db);
    const { batchId, runs } = await seedDeploymentFixture(db);
    await db.query("UPDATE runs SET error_class = 'critical' WHERE id = $1", [runs[3]]);
    await db.query(
      `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, error_class, cost_usd)
       VALUES ('apollo', 'people-match', $1, $2, 1, 'miss', 'error', 'retryable', 0),
              ('apollo', 'people-match', $1, $2, 2, 'miss', 'error', 'retryable', 0)`,
      [runs[3], batchId],
    );
    const engagement = await ensureEngagement(db, {
      slug: 'acme',
      name: 'Acme golf',
      industry: 'golf',
      plannedStart: '2026-01-01',
      plannedEnd: '2026-01-15',
      actualStart: '2026-01-01',
      actualEnd: '2026-01-20',
      budgetPlannedUsd: 0.05,
      clientSatisfaction: 8,
      wouldHireAgain: true,
    });
    const deployment = await createDeployment(db, {
      engagementId: engagement,
      patternVersionId: await patternVersionId(db, 'golf-courses'),
      pipeline: 'golf-courses',
      criteria: { min_records: 4, min_coverage: 0.7 },
    });
    await attachBatch(db, deployment, batchId);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes planned vs actual, metrics, benchmarks, failures and cost from the recorded runs', async () => {
    const r = await generateRetro(db, 'acme', { now: new Date('2026-02-01T00:00:00Z') });
    const md = r.markdown;
    expect(md).toContain('Measured from 4 runs over 4 records in 1 batch(es) of 1 deployment(s).');
    expect(md).toContain('| duration | 14 days | 19 days |');
    expect(md).toContain('| budget | $0.05 | - | $0.03 provider spend (ledger, 5 requests) |');
    expect(md).toContain('| provider spend vs planned budget | | | 60.0% |');
    expect(md).toContain('| start | 2026-01-01 | 2026-01-01 | 2026-01-01 (first run) |');
    expect(md).toContain('8/10 · would hire again: yes');
    expect(md).toContain('- coverage: 75.0% of 4 records had a value written; 4 values, 2 contacts');
    expect(md).toContain('$0.0075/record (n=4), $0.0075/found value (n=4)');
    expect(md).toContain('- speed: 5.0 s p50, 7.4 s p90 per record (n=4 runs');
    expect(md).toContain('| emails.email | 3 | 2 | 66.7% | 0 | $0.00 |');
    expect(md).toContain('met its criteria: met: coverage 75.0% vs ≥ 70.0%');
    // documented 0.155/record and Hunter 50% against what the ledger and the waterfall attempts say
    expect(md).toContain('cost/record: documented $0.1550, measured $0.0075 (n=4)');
    expect(md).toContain('Agent 3 email: documented 50% hit rate, measured 33.3% won of 3 tried');
    expect(md).toContain('- 1 run(s) failed: critical');
    expect(md).toContain('- 2 apollo.people-match attempt(s) failed: retryable');
    expect(md).toContain('| apollo.people-match | 2 | 3 | 1 | $0.02 | 66.7% |');
    expect(md).toContain('| hunter.email-finder | 3 | 2 | 2 | $0.01 | 33.3% |');
    expect(r.data.total?.costUsd).toBeCloseTo(0.03, 9);
  });

  it('keeps what a person wrote between the markers when regenerated', async () => {
    const file = join(dir, 'retros', 'acme.md');
    const first = await generateRetro(db, 'acme', { file });
    expect(first.kept).toBe(false);
    const text = await readFile(file, 'utf8');
    const edited = text.replace(
      /(<!-- sluice:human learnings -->\n)[\s\S]*?(<!-- \/sluice:human learnings -->)/,
      '$1Catch-all domains cost us a week.\n$2',
    );
    await writeFile(file, edited);
    // the batch is reopened (as a dead-letter replay does), more traffic lands and it ends again: the
    // figures change (stored again when it settles), the person's text does not
    const batch = (await db.query<{ batch_id: number }>('SELECT batch_id FROM deployment_batches LIMIT 1'))
      .rows[0]!.batch_id;
    await db.query("UPDATE batches SET status = 'running', finished_at = NULL WHERE id = $1", [batch]);
    await db.query(
      `INSERT INTO ledger (provider, operation, batch_id, attempt, cache, status, cost_usd)
       VALUES ('hunter', 'email-finder', $1, 1, 'miss', 'found', 0.07)`,
      [batch],
    );
    expect(await settleBatch(db, batch)).toBe(true);
    const second = await generateRetro(db, 'acme', { file });
    expect(second.kept).toBe(true);
    const after = await readFile(file, 'utf8');
    expect(humanSections(after).get('learnings')).toBe('Catch-all domains cost us a week.\n');
    expect(after).toContain('| budget | $0.05 | - | $0.10 provider spend (ledger, 6 requests) |');
  });

  it('drafts a pattern from what a batch ran, with its measured figures, stored as extracted', async () => {
    const batch = (await db.query<{ batch_id: number }>('SELECT batch_id FROM deployment_batches')).rows[0]!
      .batch_id;
    await expect(extractPattern(db, batch, { out: dir, slug: 'golf-courses' })).rejects.toThrow(
      /a builtin pattern "golf-courses" exists/,
    );
    const r = await extractPattern(db, batch, { out: dir });
    expect(r).toMatchObject({ slug: 'golf-courses-extracted', records: 4 });
    const row = (await listPatternRows(db, 'golf-courses-extracted'))[0]!;
    expect(row.origin).toBe('extracted');
    expect(row.documented).toEqual({}); // measured figures are comments, never documented benchmarks
    expect(row.architecture.split('\n')).toContain(
      'emails.email (waterfall): email-pattern.infer-email (won 0.0% of 3) → hunter.email-finder (won 33.3% of 3) → apollo.people-match (won 100.0% of 1): found 66.7% of 3 that ran',
    );
    expect(await readFile(join(dir, 'golf-courses-extracted', 'pattern.yaml'), 'utf8')).toContain(
      '#   records 4, coverage 75.0%',
    );
  });

  it('says which engagements exist when the slug is unknown', async () => {
    await expect(generateRetro(db, 'nope')).rejects.toThrow(/no engagement "nope" \(known: acme\)/);
  });
});
