import type { Db } from '../db/db.ts';
import { attachDeployedBatches } from './deploy/deploy-pattern.ts';
import { syncLibrary } from './library.ts';
import { feedVerifierOutcomes } from './value-outcomes.ts';

/**
 * What every learning command does first: the built-in library is loaded, batches that ran a deployed
 * template's pipeline file join its deployment, and outcomes that can be
 * derived from recorded data (verifier answers) are recorded for every deployed batch. Idempotent.
 */
export async function refreshLearning(db: Db): Promise<{ outcomesAdded: number; batchesAttached: number }> {
  await syncLibrary(db);
  const batchesAttached = await attachDeployedBatches(db);
  const batches = (
    await db.query<{ batch_id: number }>('SELECT batch_id FROM deployment_batches ORDER BY batch_id')
  ).rows.map((r) => r.batch_id);
  return { outcomesAdded: batches.length ? await feedVerifierOutcomes(db, batches) : 0, batchesAttached };
}
