import type { Db } from '../../db/db.ts';
import { batchFigures } from '../../engine/batch-figures.ts';
import { ConfigError } from '../../errors.ts';
import { batchFailures, batchStats, type DeploymentStats, deploymentBatches } from '../deployment-stats.ts';
import type { Criteria, Documented } from '../pattern-file.ts';
import { judge } from '../pattern-stats.ts';

/**
 * Everything a retrospective says, gathered from the engagement's typed row and its deployments'
 * recorded runs, ledger and outcomes. Nothing here is typed by a person except the engagement and the
 * patterns' documented benchmarks, which the retrospective prints apart.
 */
export interface RetroData {
  engagement: {
    slug: string;
    name: string;
    industry: string | null;
    stage: string | null;
    teamSize: number | null;
    techStack: string[];
    plannedStart: string | null;
    plannedEnd: string | null;
    actualStart: string | null;
    actualEnd: string | null;
    budgetPlannedUsd: number | null;
    budgetActualUsd: number | null;
    clientSatisfaction: number | null;
    wouldHireAgain: boolean | null;
  };
  deployments: RetroDeployment[];
  /** All deployments' batches together (null when nothing ran). */
  total: Omit<DeploymentStats, 'deploymentId'> | null;
  failures: {
    /** Failed runs by error class. */
    runs: { errorClass: string; runs: number }[];
    /** Partial runs: finished with some calls that could not be made. */
    partialRuns: number;
    failedCalls: number;
    /** Ledger attempts that ended in an error or were refused (budget, circuit), by provider and class. */
    calls: { provider: string; operation: string; status: string; errorClass: string; calls: number }[];
  };
}

export interface RetroDeployment {
  id: number;
  pattern: string;
  patternName: string;
  version: string;
  pipeline: string;
  criteria: Criteria;
  documented: Documented;
  stats: DeploymentStats;
  success: boolean | null;
  why: string;
}

export async function retroData(db: Db, slug: string): Promise<RetroData> {
  const e = await db.query<RetroData['engagement'] & { id: number }>(
    `SELECT id, slug, name, industry, stage, team_size AS "teamSize", tech_stack AS "techStack",
            planned_start::text AS "plannedStart", planned_end::text AS "plannedEnd",
            actual_start::text AS "actualStart", actual_end::text AS "actualEnd",
            budget_planned_usd::float8 AS "budgetPlannedUsd", budget_actual_usd::float8 AS "budgetActualUsd",
            client_satisfaction AS "clientSatisfaction", would_hire_again AS "wouldHireAgain"
       FROM engagements WHERE slug = $1`,
    [slug],
  );
  const row = e.rows[0];
  if (!row) {
    const known = (await db.query<{ slug: string }>('SELECT slug FROM engagements ORDER BY slug')).rows;
    throw new ConfigError(
      `no engagement "${slug}" (known: ${known.map((k) => k.slug).join(', ') || 'none; `sluice demo` records one'})`,
      { exitCode: 2 },
    );
  }
  const { id, ...engagement } = row;
  const deps = await db.query<Omit<RetroDeployment, 'stats' | 'success' | 'why'>>(
    `SELECT d.id, p.slug AS pattern, p.name AS "patternName", v.version, d.pipeline, d.criteria, p.documented
       FROM deployments d JOIN pattern_versions v ON v.id = d.pattern_version_id
            JOIN patterns p ON p.id = v.pattern_id
      WHERE d.engagement_id = $1 ORDER BY d.id`,
    [id],
  );
  const batchesOf = new Map<number, number[]>();
  for (const d of deps.rows) batchesOf.set(d.id, await deploymentBatches(db, d.id));
  const batches = [...new Set([...batchesOf.values()].flat())].sort((a, b) => a - b);
  // one read of the stored batch figures serves every deployment, the total and the failures
  const figs = await batchFigures(db, batches);
  const pick = (ids: number[]) => figs.filter((f) => ids.includes(f.batchId));
  const deployments: RetroDeployment[] = [];
  for (const d of deps.rows) {
    const ids = batchesOf.get(d.id)!;
    const stats = { deploymentId: d.id, ...(await batchStats(db, ids, pick(ids))) };
    deployments.push({ ...d, stats, ...judge(stats, d.criteria) });
  }
  const only = deployments.length === 1 ? deployments[0]! : null;
  const total = !batches.length ? null : only ? only.stats : await batchStats(db, batches, figs);
  return { engagement, deployments, total, failures: batchFailures(figs) };
}
