/**
 * `npm run bench:search [-- --engagements N] [--seed N]`
 *
 * Intelligence search, evaluated by leaving one engagement out. A synthetic library (24 patterns over 8
 * use cases × industries, each working well in some industries only) and N engagements (default 60):
 * each has an industry and a brief written from its need's words plus noise, and deploys 2–3 patterns
 * whose recorded runs (20 records each) pass or miss the coverage criterion by each pattern's hidden
 * quality in that industry. For every engagement with a successful deployment, the search is run with
 * its industry and brief while its own deployments are left out of the success evidence; printed:
 * recall@5, MRR and top-1 of the patterns it used successfully, for the full ranking, text only, text +
 * name (no measured success) on the same candidates, and a random order of the whole library. Embedded PGlite. Figures, not asserts.
 */
import { performance } from 'node:perf_hooks';
import { openDb } from '../src/db/open-db.ts';
import { seededRng } from '../src/learning/optimizer/random.ts';
import { loadEvidence } from '../src/learning/search/evidence.ts';
import { type SearchHit, searchLibrary } from '../src/learning/search/search.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const ENGAGEMENTS = arg('engagements', 60);
const rng = seededRng(arg('seed', 7));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

const TOPICS: Record<string, string[]> = {
  'email-waterfall': ['email', 'verified', 'decision', 'makers', 'contacts', 'finder'],
  'phone-discovery': ['phone', 'direct', 'dial', 'mobile', 'numbers', 'calling'],
  'crm-sync': ['crm', 'hubspot', 'sync', 'pipeline', 'deals', 'owners'],
  'job-change': ['job', 'change', 'champion', 'moved', 'alerts', 'tracking'],
  'visitor-intent': ['website', 'visitor', 'intent', 'deanonymize', 'traffic', 'rb2b'],
  'local-lists': ['local', 'business', 'lists', 'maps', 'locations', 'storefront'],
  technographics: ['technology', 'stack', 'install', 'software', 'detect', 'tools'],
  'funding-signals': ['funding', 'raised', 'series', 'investors', 'announcement', 'timing'],
};
const NOISE = [
  'quarter',
  'urgent',
  'team',
  'client',
  'project',
  'improve',
  'faster',
  'cheaper',
  'new',
  'market',
];
const INDUSTRIES = ['saas', 'healthcare', 'golf', 'fintech', 'retail'];

const db = await openDb({ memory: true });
const t0 = performance.now();
try {
  // 3 patterns per topic: their context lists 2–3 industries, and each works well in some of them only
  const patterns: { slug: string; topic: string; industries: string[]; quality: Record<string, number> }[] =
    [];
  for (const [topic, words] of Object.entries(TOPICS))
    for (let k = 0; k < 3; k++) {
      const industries = INDUSTRIES.filter(() => rng() < 0.5);
      if (!industries.length) industries.push(pick(INDUSTRIES));
      const quality = Object.fromEntries(industries.map((i) => [i, rng() < 0.5 ? 0.85 : 0.2]));
      const slug = `${topic}-${k + 1}`;
      patterns.push({ slug, topic, industries, quality });
      const use = [...words].sort(() => rng() - 0.5).slice(0, 4);
      await db.query(
        `INSERT INTO patterns (slug, name, category, use_case, industries, tags, criteria)
         VALUES ($1, $2, 'enrichment', $3, $4, $5, '{"min_records": 20, "min_coverage": 0.8}')`,
        [
          slug,
          `${topic.replace('-', ' ')} variant ${k + 1}`,
          `Use for ${use.join(' ')}.`,
          industries,
          use.slice(0, 2),
        ],
      );
      await db.query(
        `INSERT INTO pattern_versions (pattern_id, version) SELECT id, '1.0' FROM patterns WHERE slug = $1`,
        [slug],
      );
    }
  const used = new Map<string, { industry: string; brief: string; good: Set<string> }>();
  for (let e = 0; e < ENGAGEMENTS; e++) {
    const industry = pick(INDUSTRIES);
    const topic = pick(Object.keys(TOPICS));
    const words = [...TOPICS[topic]!].sort(() => rng() - 0.5).slice(0, 3);
    const brief = [...words, pick(NOISE), pick(NOISE)].sort(() => rng() - 0.5).join(' ');
    const slug = `e${e + 1}`;
    const eng = (
      await db.query<{ id: number }>(
        `INSERT INTO engagements (slug, name, industry) VALUES ($1, $1, $2) RETURNING id`,
        [slug, industry],
      )
    ).rows[0]!.id;
    // what a person would try: patterns for the need that list the industry, else any for the need
    const fits = patterns.filter((p) => p.topic === topic && p.industries.includes(industry));
    const tried = (fits.length ? fits : patterns.filter((p) => p.topic === topic)).slice(0, 2);
    if (rng() < 0.3) tried.push(pick(patterns)); // and sometimes something unrelated
    const good = new Set<string>();
    for (const p of tried) {
      const ok = rng() < (p.quality[industry] ?? 0.1);
      if (ok) good.add(p.slug);
      const batch = (
        await db.query<{ id: number }>(
          `INSERT INTO batches (pipeline, status, total, finished_at) VALUES ($1, 'done', 20, now()) RETURNING id`,
          [p.slug],
        )
      ).rows[0]!.id;
      await db.query(
        `WITH a AS (INSERT INTO accounts (name) SELECT $2 || '-' || i FROM generate_series(1, 20) i RETURNING id),
              r AS (INSERT INTO runs (batch_id, pipeline, account_id, state, started_at, finished_at)
                    SELECT $1, 'p', id, 'enriched', now(), now() FROM a RETURNING id, account_id)
         INSERT INTO field_values (entity_type, entity_id, field, value, source, provider, run_id)
         SELECT 'account', account_id, 'website', '"x"', 'provider', 'perplexity', id FROM r
          ORDER BY id LIMIT $3`,
        [batch, `${slug}-${p.slug}`, ok ? 18 : 6],
      );
      const dep = (
        await db.query<{ id: number }>(
          `INSERT INTO deployments (engagement_id, pattern_version_id, pipeline, criteria)
           SELECT $1, v.id, $2, p.criteria FROM pattern_versions v JOIN patterns p ON p.id = v.pattern_id
            WHERE p.slug = $2 RETURNING id`,
          [eng, p.slug],
        )
      ).rows[0]!.id;
      await db.query('INSERT INTO deployment_batches (deployment_id, batch_id) VALUES ($1, $2)', [
        dep,
        batch,
      ]);
    }
    used.set(slug, { industry, brief, good });
  }
  const evidence = await loadEvidence(db);
  console.log(
    `library: ${patterns.length} patterns; ${ENGAGEMENTS} engagements, ${evidence.length} deployments (${evidence.filter((e) => e.success).length} successful); seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const rankings: Record<string, (h: SearchHit) => number> = {
    full: (h) => h.score,
    'text only': (h) => h.components.text,
    'text + name (no measured success)': (h) => 0.55 * h.components.text + 0.15 * h.components.name,
  };
  const sums = Object.fromEntries(
    [...Object.keys(rankings), 'random order of the whole library'].map((k) => [
      k,
      { recall: 0, mrr: 0, at1: 0 },
    ]),
  );
  let evaluated = 0;
  const q0 = performance.now();
  for (const [slug, e] of used) {
    if (!e.good.size) continue;
    evaluated++;
    const hits = await searchLibrary(
      db,
      { text: e.brief, industry: e.industry, kind: 'pattern', limit: 1000, excludeEngagement: slug },
      evidence,
    );
    const orders: [string, { slug: string; s: number }[]][] = Object.entries(rankings).map(
      ([name, score]) => [name, hits.map((h) => ({ slug: h.slug, s: score(h) })).sort((a, b) => b.s - a.s)],
    );
    orders.push([
      'random order of the whole library',
      patterns.map((p) => ({ slug: p.slug, s: rng() })).sort((a, b) => b.s - a.s),
    ]);
    for (const [name, ranked] of orders) {
      const top = ranked.slice(0, 5).map((h) => h.slug);
      sums[name]!.recall += top.filter((s) => e.good.has(s)).length / e.good.size;
      const first = ranked.findIndex((h) => e.good.has(h.slug));
      sums[name]!.mrr += first >= 0 ? 1 / (first + 1) : 0;
      sums[name]!.at1 += first === 0 ? 1 : 0;
    }
  }
  const perQuery = (performance.now() - q0) / Math.max(1, evaluated);
  console.log(`leave-one-engagement-out over ${evaluated} engagements with a successful deployment:`);
  for (const [name, s] of Object.entries(sums))
    console.log(
      `  ${name.padEnd(34)} recall@5 ${(s.recall / evaluated).toFixed(3)}  MRR ${(s.mrr / evaluated).toFixed(3)}  top-1 ${(s.at1 / evaluated).toFixed(3)}`,
    );
  console.log(`search: ${perQuery.toFixed(0)} ms per query (evidence loaded once)`);
} finally {
  await db.close();
}
