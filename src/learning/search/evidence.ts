import type { Db } from '../../db/db.ts';
import { listPatternRows, patternReport } from '../pattern-stats.ts';

/**
 * What search ranks measured success by: every deployment's verdict (judged from its runs by
 * pattern-stats.ts) with its engagement's profile. Loaded once per search (or once per evaluation,
 * which then leaves engagements out in memory).
 */
export interface DeploymentEvidence {
  pattern: string;
  engagement: string;
  industry: string | null;
  stage: string | null;
  /** null: not judged (too few records, or runs still open). */
  success: boolean | null;
}

export async function loadEvidence(db: Db): Promise<DeploymentEvidence[]> {
  const profiles = new Map(
    (
      await db.query<{ slug: string; industry: string | null; stage: string | null }>(
        'SELECT slug, industry, stage FROM engagements',
      )
    ).rows.map((e) => [e.slug, e]),
  );
  const out: DeploymentEvidence[] = [];
  for (const row of await listPatternRows(db)) {
    const report = await patternReport(db, row);
    for (const d of report.deployments) {
      const e = profiles.get(d.engagement);
      out.push({
        pattern: row.slug,
        engagement: d.engagement,
        industry: e?.industry ?? null,
        stage: e?.stage ?? null,
        success: d.success,
      });
    }
  }
  return out;
}
