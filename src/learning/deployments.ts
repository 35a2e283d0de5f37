import type { Db, Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { syncLibrary } from './library.ts';
import type { Criteria } from './pattern-file.ts';

/** Engagements and deployments: the typed half of compound learning (what was done, where, for whom). */
export interface EngagementInput {
  slug: string;
  name: string;
  industry?: string | null;
  stage?: string | null;
  teamSize?: number | null;
  techStack?: string[];
  plannedStart?: string | null;
  plannedEnd?: string | null;
  actualStart?: string | null;
  actualEnd?: string | null;
  budgetPlannedUsd?: number | null;
  budgetActualUsd?: number | null;
  clientSatisfaction?: number | null;
  wouldHireAgain?: boolean | null;
}

/** Creates the engagement, or returns the existing one with that slug unchanged. */
export async function ensureEngagement(db: Queryable, e: EngagementInput): Promise<number> {
  await db.query(
    `INSERT INTO engagements (slug, name, industry, stage, team_size, tech_stack, planned_start, planned_end,
                              actual_start, actual_end, budget_planned_usd, budget_actual_usd,
                              client_satisfaction, would_hire_again)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (slug) DO NOTHING`,
    [
      e.slug,
      e.name,
      e.industry ?? null,
      e.stage ?? null,
      e.teamSize ?? null,
      e.techStack ?? [],
      e.plannedStart ?? null,
      e.plannedEnd ?? null,
      e.actualStart ?? null,
      e.actualEnd ?? null,
      e.budgetPlannedUsd ?? null,
      e.budgetActualUsd ?? null,
      e.clientSatisfaction ?? null,
      e.wouldHireAgain ?? null,
    ],
  );
  return engagementId(db, e.slug);
}

export async function engagementId(db: Queryable, slug: string): Promise<number> {
  const r = await db.query<{ id: number }>('SELECT id FROM engagements WHERE slug = $1', [slug]);
  if (!r.rows[0])
    throw new ConfigError(`no engagement "${slug}" (create it with \`sluice engagements add ${slug}\`)`, {
      exitCode: 2,
    });
  return r.rows[0].id;
}

/** The newest version of a pattern, or the one named `pattern@version`. */
export async function patternVersionId(db: Queryable, ref: string): Promise<number> {
  const [slug, version] = ref.split('@');
  const r = await db.query<{ id: number }>(
    `SELECT v.id FROM pattern_versions v JOIN patterns p ON p.id = v.pattern_id
      WHERE p.slug = $1 AND ($2::text IS NULL OR v.version = $2)
      ORDER BY v.released_on DESC NULLS LAST, v.id DESC LIMIT 1`,
    [slug, version ?? null],
  );
  if (!r.rows[0])
    throw new ConfigError(
      `no pattern "${ref}" in the library (see \`sluice patterns list\`)${version ? '' : ''}`,
      { exitCode: 2 },
    );
  return r.rows[0].id;
}

export interface DeploymentInput {
  engagementId: number;
  patternVersionId: number;
  pipeline: string;
  params?: Record<string, unknown>;
  /** Default: the pattern's criteria. */
  criteria?: Criteria;
}

export async function createDeployment(db: Queryable, d: DeploymentInput): Promise<number> {
  const r = await db.query<{ id: number }>(
    `INSERT INTO deployments (engagement_id, pattern_version_id, pipeline, params, criteria)
     SELECT $1, v.id, $3, $4, coalesce($5::jsonb, p.criteria)
       FROM pattern_versions v JOIN patterns p ON p.id = v.pattern_id WHERE v.id = $2
     RETURNING id`,
    [
      d.engagementId,
      d.patternVersionId,
      d.pipeline,
      JSON.stringify(d.params ?? {}),
      d.criteria ? JSON.stringify(d.criteria) : null,
    ],
  );
  return r.rows[0]!.id;
}

/** Adds a batch to a deployment (a batch already recorded elsewhere stays where it is). */
export async function attachBatch(db: Queryable, deploymentId: number, batchId: number): Promise<void> {
  await db.query(
    'INSERT INTO deployment_batches (deployment_id, batch_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [deploymentId, batchId],
  );
}

/** The deployment of this pattern version in this engagement running `pipeline`, created if missing. */
export async function ensureDeployment(db: Queryable, d: DeploymentInput): Promise<number> {
  const r = await db.query<{ id: number }>(
    `SELECT id FROM deployments WHERE engagement_id = $1 AND pattern_version_id = $2 AND pipeline = $3
      ORDER BY id LIMIT 1`,
    [d.engagementId, d.patternVersionId, d.pipeline],
  );
  return r.rows[0]?.id ?? createDeployment(db, d);
}

export const DEMO_ENGAGEMENT = 'demo';

/**
 * `sluice demo`'s one call into this layer: the demo's batch becomes part of the `demo` engagement's
 * deployment of the golf-courses pattern, so `sluice patterns show golf-courses` and `sluice retro demo`
 * have measured figures on a fresh clone.
 */
export async function recordDemoDeployment(db: Db, batchId: number): Promise<number> {
  await syncLibrary(db);
  return db.transaction(async (tx) => {
    const engagement = await ensureEngagement(tx, {
      slug: DEMO_ENGAGEMENT,
      name: 'Sluice demo: Virginia golf courses (sandbox)',
      industry: 'golf',
      stage: 'all',
      techStack: ['sluice', 'sandbox'],
    });
    const version = await patternVersionId(tx, 'golf-courses');
    const deployment = await ensureDeployment(tx, {
      engagementId: engagement,
      patternVersionId: version,
      pipeline: 'golf-courses',
    });
    await attachBatch(tx, deployment, batchId);
    return deployment;
  });
}
