import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import {
  attachBatch,
  createDeployment,
  ensureEngagement,
  patternVersionId,
} from '../src/learning/deployments.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { type DeploymentEvidence, loadEvidence } from '../src/learning/search/evidence.ts';
import { searchLibrary, WEIGHTS } from '../src/learning/search/search.ts';
import { similarity } from '../src/learning/search/trigram.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { seedDeploymentFixture } from './helpers/learning-fixture.ts';

it('trigram similarity is pg_trgm’s (hand-counted 3-grams)', () => {
  // "golf": {"  g"," go","gol","olf","lf "}; "gulf": {"  g"," gu","gul","ulf","lf "}: 2 shared of 8
  expect(similarity('golf', 'gulf')).toBeCloseTo(2 / 8, 9);
  expect(similarity('Course', 'course')).toBe(1);
  expect(similarity('', 'x')).toBe(0);
});

describeEachBackend('intelligence search', (backend) => {
  let db: Db;
  let evidence: DeploymentEvidence[];
  beforeAll(async () => {
    db = await openTestDb(backend);
    await syncLibrary(db);
    const { batchId } = await seedDeploymentFixture(db);
    const engagement = await ensureEngagement(db, { slug: 'acme', name: 'Acme', industry: 'golf' });
    const deployment = await createDeployment(db, {
      engagementId: engagement,
      patternVersionId: await patternVersionId(db, 'golf-courses'),
      pipeline: 'golf-courses',
      criteria: { min_records: 4, min_coverage: 0.7 },
    });
    await attachBatch(db, deployment, batchId);
    evidence = await loadEvidence(db);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('loads each deployment’s verdict with its engagement’s profile', () => {
    expect(evidence).toEqual([
      { pattern: 'golf-courses', engagement: 'acme', industry: 'golf', stage: null, success: true },
    ]);
  });

  it('applies the hard filters: industry and stage, a document listing none fits any', async () => {
    const saas = await searchLibrary(db, { industry: 'SaaS', kind: 'pattern' }, evidence);
    expect(saas.map((h) => h.slug)).toEqual(['enterprise-contact-waterfall']);
    const golf = await searchLibrary(db, { industry: 'golf' }, evidence);
    expect(golf.map((h) => h.slug).sort()).toEqual([
      'catch-all-domains',
      'golf-courses',
      'job-change-timing',
    ]);
    const seed = await searchLibrary(db, { industry: 'saas', stage: 'seed', kind: 'pattern' }, evidence);
    expect(seed).toEqual([]); // the waterfall is for series-b and later
  });

  it('ranks by text relevance, says which words matched, and drops documents nothing matched', async () => {
    const hits = await searchLibrary(db, { text: 'catch-all domains uncertain' }, evidence);
    expect(hits[0]?.slug).toBe('catch-all-domains');
    expect(hits[0]?.matched.sort()).toEqual(['catch', 'domain', 'uncertain']);
    expect(hits[0]?.components.text).toBe(1); // best rank and every lexeme
    expect(hits.map((h) => h.slug)).not.toContain('job-change-timing');
    const none = await searchLibrary(db, { text: 'the of and' }, evidence); // stop words only
    expect(none.length).toBe(4); // no lexeme: nothing to be relevant to, filters only
  });

  it('finds a misspelt name by trigram similarity', async () => {
    const hits = await searchLibrary(db, { text: 'entreprise waterfal' }, evidence);
    expect(hits[0]?.slug).toBe('enterprise-contact-waterfall');
    expect(hits[0]?.matched).toEqual([]);
    expect(hits[0]?.components.name).toBeGreaterThan(0.5);
  });

  it('ranks measured success by a Wilson lower bound shrunk toward all deployments', async () => {
    const ofGolf = async (industry: string | undefined, exclude?: string) =>
      (
        await searchLibrary(
          db,
          {
            kind: 'pattern',
            ...(industry ? { industry } : {}),
            ...(exclude ? { excludeEngagement: exclude } : {}),
          },
          evidence,
        )
      ).find((h) => h.slug === 'golf-courses')!;
    // 1 of 1 overall, no segment: Wilson(1, 1)
    expect((await ofGolf(undefined)).components.success).toBeCloseTo(0.2065, 4);
    // in golf: 1/1 + 2 pseudo-deployments at rate 1 → Wilson(3, 3)
    const golf = await ofGolf('golf');
    expect(golf.components.success).toBeCloseTo(0.4385, 4);
    expect(golf.success).toEqual({ successes: 1, judged: 1, segment: { successes: 1, judged: 1 } });
    expect(golf.score).toBeCloseTo(WEIGHTS.success * 0.4385, 4); // no text
    expect(golf.why).toContain('1/1 in golf');
    // hospitality has no deployment of its own: Wilson(2, 2) from the overall rate
    expect((await ofGolf('hospitality')).components.success).toBeCloseTo(0.3424, 4);
    // leaving the only engagement out leaves nothing measured
    expect((await ofGolf('golf', 'acme')).components.success).toBe(0);
  });
});
