import type { Db, Queryable } from '../db/db.ts';
import { batchStats, type DeploymentStats, deploymentStats } from './deployment-stats.ts';
import { type Maturity, type MaturityVerdict, maturityOf } from './maturity.ts';
import type { Criteria, Documented } from './pattern-file.ts';
import { wilsonInterval } from './wilson.ts';

/** A pattern as typed (library) plus everything measured about it (deployments, pooled figures, maturity). */
export interface PatternRow {
  id: number;
  slug: string;
  name: string;
  category: string;
  useCase: string;
  industries: string[];
  stages: string[];
  companySize: string | null;
  architecture: string;
  failureModes: string[];
  tags: string[];
  signature: boolean;
  documented: Documented;
  criteria: Criteria;
  origin: string;
  versions: { id: number; version: string; releasedOn: string | null; changelog: string }[];
}

export interface DeploymentVerdict {
  id: number;
  engagement: string;
  version: string;
  pipeline: string;
  criteria: Criteria;
  stats: DeploymentStats;
  /** null: not judged (below the minimum sample, or still running). */
  success: boolean | null;
  why: string;
}

export interface PatternReport extends PatternRow {
  deployments: DeploymentVerdict[];
  engagements: string[];
  /** Figures over all deployments' batches together. */
  measured: Omit<DeploymentStats, 'deploymentId'> | null;
  evaluated: number;
  successes: number;
  successRate: number | null;
  successInterval: { low: number; high: number } | null;
  maturity: Maturity;
  maturityReason: MaturityVerdict['reason'];
}

export const DEFAULT_MIN_RECORDS = 20;

export async function listPatternRows(db: Queryable, slug?: string): Promise<PatternRow[]> {
  const r = await db.query<PatternRow>(
    `SELECT p.id, p.slug, p.name, p.category, p.use_case AS "useCase", p.industries, p.stages,
            p.company_size AS "companySize", p.architecture, p.failure_modes AS "failureModes", p.tags,
            p.signature, p.documented, p.criteria, p.origin,
            coalesce((SELECT jsonb_agg(jsonb_build_object('id', v.id, 'version', v.version,
                        'releasedOn', v.released_on::text, 'changelog', v.changelog)
                        ORDER BY v.released_on NULLS FIRST, v.id)
                        FROM pattern_versions v WHERE v.pattern_id = p.id), '[]'::jsonb) AS versions
       FROM patterns p WHERE ($1::text IS NULL OR p.slug = $1) ORDER BY p.slug`,
    [slug ?? null],
  );
  return r.rows;
}

/** Judges one deployment against its criteria; every bound set must hold. */
export function judge(stats: DeploymentStats, c: Criteria): { success: boolean | null; why: string } {
  const min = c.min_records ?? DEFAULT_MIN_RECORDS;
  if (stats.runs.open > 0) return { success: null, why: `${stats.runs.open} runs still open` };
  if (stats.records < min) return { success: null, why: `${stats.records} records < minimum sample ${min}` };
  const failed: string[] = [];
  const passed: string[] = [];
  const check = (ok: boolean, text: string) => (ok ? passed : failed).push(text);
  if (c.min_coverage !== undefined)
    check(
      (stats.coverage ?? 0) >= c.min_coverage,
      `coverage ${pct(stats.coverage)} vs ≥ ${pct(c.min_coverage)}`,
    );
  if (c.max_cost_per_record_usd !== undefined)
    check(
      (stats.costPerRecordUsd ?? 0) <= c.max_cost_per_record_usd,
      `cost/record $${(stats.costPerRecordUsd ?? 0).toFixed(4)} vs ≤ $${c.max_cost_per_record_usd}`,
    );
  if (c.max_cost_per_found_value_usd !== undefined)
    check(
      (stats.costPerFoundValueUsd ?? Number.POSITIVE_INFINITY) <= c.max_cost_per_found_value_usd,
      `cost/found value $${(stats.costPerFoundValueUsd ?? 0).toFixed(4)} vs ≤ $${c.max_cost_per_found_value_usd}`,
    );
  if (failed.length) return { success: false, why: `missed: ${failed.join('; ')}` };
  return { success: true, why: passed.length ? `met: ${passed.join('; ')}` : 'no criteria set: ran' };
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`;
}

export async function patternReport(db: Db, row: PatternRow): Promise<PatternReport> {
  const deps = await db.query<{
    id: number;
    engagement: string;
    version: string;
    pipeline: string;
    criteria: Criteria;
  }>(
    `SELECT d.id, e.slug AS engagement, v.version, d.pipeline, d.criteria
       FROM deployments d JOIN pattern_versions v ON v.id = d.pattern_version_id
            JOIN engagements e ON e.id = d.engagement_id
      WHERE v.pattern_id = $1 ORDER BY d.id`,
    [row.id],
  );
  const deployments: DeploymentVerdict[] = [];
  for (const d of deps.rows) {
    const stats = await deploymentStats(db, d.id);
    deployments.push({ ...d, stats, ...judge(stats, d.criteria) });
  }
  const evaluated = deployments.filter((d) => d.success !== null);
  const successes = evaluated.filter((d) => d.success).length;
  const engagements = [...new Set(deployments.map((d) => d.engagement))];
  const successfulEngagements = new Set(deployments.filter((d) => d.success).map((d) => d.engagement)).size;
  const verdict = maturityOf({
    evaluated: evaluated.length,
    successes,
    successfulEngagements,
    signatureFlag: row.signature,
  });
  const allBatches = deployments.flatMap((d) => d.stats.batches);
  return {
    ...row,
    deployments,
    engagements,
    measured: allBatches.length ? await batchStats(db, allBatches) : null,
    evaluated: evaluated.length,
    successes,
    successRate: evaluated.length ? successes / evaluated.length : null,
    successInterval: wilsonInterval(successes, evaluated.length),
    maturity: verdict.maturity,
    maturityReason: verdict.reason,
  };
}
