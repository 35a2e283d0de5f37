import type { Queryable } from '../../db/db.ts';
import { wilsonLower } from '../wilson.ts';
import type { DeploymentEvidence } from './evidence.ts';
import { wordSimilarity } from './trigram.ts';

/**
 * Intelligence search: patterns and intelligence entries for a client profile and free text, ranked
 * in three stages whose parts are all returned, so a person sees why a result ranked where it did:
 * 1. hard filters: industry and stage (a document with none listed, or `all`, fits every profile),
 *    category, kind;
 * 2. relevance: Postgres full-text search over the stored weighted documents of 0016 (name/title A,
 *    tags B, use case C, sequence/failure modes/body D): half `ts_rank(…, 32)` scaled so the best
 *    match is 1, half the share of the query's lexemes the document contains;
 *    the query's words are OR-ed (websearch_to_tsquery would AND them and a profile rarely matches
 *    every word); plus trigram similarity of the words to the name, for typos and partial names;
 * 3. measured success: the Wilson lower bound of the pattern's judged deployments in engagements of
 *    the same industry, shrunk toward all its deployments (SHRINK pseudo-deployments at the overall
 *    rate), so one lucky deployment in a segment does not outrank a record of many.
 * Score = Σ weight × component (WEIGHTS).
 */
export interface SearchQuery {
  text?: string;
  industry?: string;
  stage?: string;
  category?: 'enrichment' | 'integration' | 'automation';
  kind?: 'pattern' | 'entry';
  /** Results to return. Default 10. */
  limit?: number;
  /** Leave this engagement's deployments out of the success figures (leave-one-out evaluation). */
  excludeEngagement?: string;
}

export interface SearchHit {
  kind: 'pattern' | 'entry';
  slug: string;
  title: string;
  /** A pattern's category, an entry's type. */
  type: string;
  score: number;
  components: { text: number; name: number; success: number };
  /** The query's words the document contains (after stemming). */
  matched: string[];
  /** Judged deployments behind the success component (patterns only). */
  success: { successes: number; judged: number; segment: { successes: number; judged: number } } | null;
  why: string;
}

export const WEIGHTS = { text: 0.55, name: 0.15, success: 0.3 } as const;
/** Pseudo-deployments at the pattern's overall rate added to a segment's record. */
export const SHRINK = 2;

interface Doc {
  kind: 'pattern' | 'entry';
  slug: string;
  title: string;
  type: string;
  rank: number;
  matched: string[];
  filters: string;
}

export async function searchLibrary(
  db: Queryable,
  q: SearchQuery,
  evidence: DeploymentEvidence[],
): Promise<SearchHit[]> {
  const words = [...new Set((q.text ?? '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])];
  // the query's lexemes as Postgres stems them; stop words give none (and no notice, unlike to_tsquery)
  const lex = words.length
    ? (
        await db.query<{ lexeme: string }>(
          `SELECT DISTINCT v.lexeme FROM unnest($1::text[]) AS t(word)
             CROSS JOIN LATERAL unnest(to_tsvector('english', t.word)) AS v`,
          [words],
        )
      ).rows.map((r) => r.lexeme)
    : [];
  const tsquery = lex.length ? lex.join(' | ') : null;
  const docs: Doc[] = [];
  const filter = `($2::text IS NULL OR cardinality(d.industries) = 0
                     OR EXISTS (SELECT 1 FROM unnest(d.industries) i WHERE lower(i) IN (lower($2), 'all')))
              AND ($3::text IS NULL OR cardinality(d.stages) = 0
                     OR EXISTS (SELECT 1 FROM unnest(d.stages) s WHERE lower(s) IN (lower($3), 'all')))`;
  const rankSql = `coalesce(ts_rank(d.search, to_tsquery('simple', $1), 32), 0)::float8 AS rank,
      CASE WHEN $1::text IS NULL THEN '{}'::text[]
           ELSE ARRAY(SELECT l FROM unnest($4::text[]) l WHERE d.search @@ to_tsquery('simple', l)) END AS matched,
      d.industries, d.stages`;
  const params = [tsquery, q.industry ?? null, q.stage ?? null, lex];
  type Row = Omit<Doc, 'kind' | 'filters'> & { industries: string[]; stages: string[] };
  const fitsWhy = (r: Row) =>
    [
      q.industry
        ? `industry ${q.industry} fits (${r.industries.length ? r.industries.join(', ') : 'any'})`
        : '',
      q.stage ? `stage ${q.stage} fits (${r.stages.length ? r.stages.join(', ') : 'any'})` : '',
    ]
      .filter(Boolean)
      .join('; ');
  if (q.kind !== 'entry') {
    const r = await db.query<Row>(
      `SELECT d.slug, d.name AS title, d.category AS type, ${rankSql}
         FROM patterns d WHERE ${filter} AND ($5::text IS NULL OR d.category = $5)`,
      [...params, q.category ?? null],
    );
    for (const row of r.rows) docs.push({ ...row, kind: 'pattern', filters: fitsWhy(row) });
  }
  if (q.kind !== 'pattern' && !q.category) {
    const r = await db.query<Row>(
      `SELECT d.slug, d.title, d.type, ${rankSql} FROM intelligence_entries d WHERE ${filter}`,
      params,
    );
    for (const row of r.rows) docs.push({ ...row, kind: 'entry', filters: fitsWhy(row) });
  }
  const maxRank = Math.max(0, ...docs.map((d) => d.rank));
  const used = evidence.filter((e) => e.success !== null && e.engagement !== q.excludeEngagement);
  const hits = docs.map((d): SearchHit => {
    // ts_rank of an OR query barely grows with the number of words matched: half the component is the
    // share of the query's lexemes the document contains
    const text = maxRank > 0 ? 0.5 * (d.rank / maxRank) + 0.5 * (d.matched.length / lex.length) : 0;
    const name = words.length ? wordSimilarity(words.join(' '), `${d.slug} ${d.title}`) : 0;
    let success = 0;
    let record: SearchHit['success'] = null;
    const why: string[] = [];
    if (d.filters) why.push(d.filters);
    why.push(
      d.matched.length
        ? `text ${text.toFixed(2)} (matched ${d.matched.length}/${lex.length}: ${d.matched.join(', ')})`
        : words.length
          ? 'text 0 (no query word)'
          : 'no text given',
    );
    if (name >= 0.3) why.push(`name ~${name.toFixed(2)}`);
    if (d.kind === 'pattern') {
      const mine = used.filter((e) => e.pattern === d.slug);
      const seg = q.industry
        ? mine.filter((e) => e.industry?.toLowerCase() === q.industry?.toLowerCase())
        : mine;
      const all = { successes: mine.filter((e) => e.success).length, judged: mine.length };
      const segment = { successes: seg.filter((e) => e.success).length, judged: seg.length };
      record = { ...all, segment };
      if (all.judged) {
        const rate = all.successes / all.judged;
        const k = seg === mine ? 0 : SHRINK;
        success = wilsonLower(segment.successes + k * rate, segment.judged + k) ?? 0;
        why.push(
          `success ${success.toFixed(2)} (Wilson lower bound: ${q.industry ? `${segment.successes}/${segment.judged} in ${q.industry}, ` : ''}${all.successes}/${all.judged} judged deployments overall)`,
        );
      } else why.push('success 0 (no judged deployment yet)');
    }
    const score = WEIGHTS.text * text + WEIGHTS.name * name + WEIGHTS.success * success;
    return {
      kind: d.kind,
      slug: d.slug,
      title: d.title,
      type: d.type,
      score,
      components: { text, name, success },
      matched: d.matched,
      success: record,
      why: why.join('; '),
    };
  });
  // with text given, a document must contain a query word or resemble the name: filters alone are not relevance
  const relevant = lex.length ? hits.filter((h) => h.matched.length || h.components.name >= 0.3) : hits;
  relevant.sort((a, b) => b.score - a.score || a.slug.localeCompare(b.slug));
  return relevant.slice(0, q.limit ?? 10);
}
