import type { Queryable } from '../../db/db.ts';
import { ConfigError } from '../../errors.ts';
import { batchStats, type DeploymentStats, deploymentStats } from '../deployment-stats.ts';
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

export async function retroData(db: Queryable, slug: string): Promise<RetroData> {
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
  const deployments: RetroDeployment[] = [];
  for (const d of deps.rows) {
    const stats = await deploymentStats(db, d.id);
    deployments.push({ ...d, stats, ...judge(stats, d.criteria) });
  }
  const batches = deployments.flatMap((d) => d.stats.batches);
  const only = deployments.length === 1 ? deployments[0]! : null;
  const total = !batches.length ? null : only ? only.stats : await batchStats(db, batches);
  return { engagement, deployments, total, failures: await failures(db, batches) };
}

async function failures(db: Queryable, batches: number[]): Promise<RetroData['failures']> {
  if (!batches.length) return { runs: [], partialRuns: 0, failedCalls: 0, calls: [] };
  const runs = await db.query<{ errorClass: string; runs: number }>(
    `SELECT coalesce(error_class, 'unclassified') AS "errorClass", count(*)::int AS runs
       FROM runs WHERE batch_id = ANY($1::bigint[]) AND state = 'failed'
      GROUP BY 1 ORDER BY 2 DESC, 1`,
    [batches],
  );
  const partial = await db.query<{ runs: number; calls: number }>(
    `SELECT count(*)::int AS runs, coalesce(sum(failed_calls), 0)::int AS calls
       FROM runs WHERE batch_id = ANY($1::bigint[]) AND state = 'partial'`,
    [batches],
  );
  const calls = await db.query<RetroData['failures']['calls'][number]>(
    `SELECT provider, operation, status, coalesce(error_class, status) AS "errorClass", count(*)::int AS calls
       FROM ledger WHERE batch_id = ANY($1::bigint[]) AND status IN ('error', 'refused')
      GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2`,
    [batches],
  );
  return {
    runs: runs.rows,
    partialRuns: partial.rows[0]!.runs,
    failedCalls: partial.rows[0]!.calls,
    calls: calls.rows,
  };
}
