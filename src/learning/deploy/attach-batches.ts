import { resolve } from 'node:path';
import type { Queryable } from '../../db/db.ts';

/**
 * Batches queued after a deployer-made deployment whose pipeline is its file (the same path, as given to
 * `sluice run --pipeline`, resolved against `cwd`) become its batches. The latest such deployment wins.
 */
export async function attachDeployedBatches(db: Queryable, cwd = process.cwd()): Promise<number> {
  const deps = (
    await db.query<{ id: number; pipeline: string; at: string }>(
      `SELECT id, pipeline, deployed_at::text AS at FROM deployments WHERE attach_runs ORDER BY deployed_at DESC, id DESC`,
    )
  ).rows;
  if (!deps.length) return 0;
  // the engine's batch module (and what it pulls in) is loaded only when there is something to attach:
  // every learning command refreshes, and most data dirs have no deployer-made deployment
  const { batchesCreatedSince } = await import('../../engine/batch.ts');
  const since = deps.reduce((m, d) => (Date.parse(d.at) < Date.parse(m) ? d.at : m), deps[0]!.at);
  const recent = await batchesCreatedSince(db, since);
  const taken = new Set(
    (
      await db.query<{ batch_id: number }>(
        'SELECT batch_id FROM deployment_batches WHERE batch_id = ANY($1::bigint[])',
        [recent.map((b) => b.id)],
      )
    ).rows.map((r) => Number(r.batch_id)),
  );
  const batches = recent.filter((b) => !taken.has(b.id));
  let attached = 0;
  for (const b of batches) {
    const path = resolve(cwd, b.pipeline);
    const d = deps.find((x) => resolve(cwd, x.pipeline) === path && Date.parse(x.at) <= Date.parse(b.at));
    if (!d) continue;
    const r = await db.query(
      'INSERT INTO deployment_batches (deployment_id, batch_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [d.id, b.id],
    );
    attached += r.rowCount;
  }
  return attached;
}
