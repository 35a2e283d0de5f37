import { cacheWatermark } from '../cache/cache-maintenance.ts';
import type { Db, Queryable } from '../db/db.ts';
import { fieldValuesWatermark } from '../records/field-values.ts';
import { attachDeployedBatches } from './deploy/attach-batches.ts';
import { libraryUnchanged } from './library-stamp.ts';
import { feedVerifierOutcomes, VERIFIERS } from './value-outcomes.ts';

export interface RefreshResult {
  outcomesAdded: number;
  batchesAttached: number;
  /** False when the library's files and rows were as the last sync left them (nothing read or written). */
  librarySynced: boolean;
  /** False when no value, verifier answer or deployed batch was added since the last feed. */
  outcomesFed: boolean;
}

/**
 * What every learning command does first: the built-in library is loaded, batches that ran a deployed
 * template's pipeline file join its deployment, and outcomes that can be derived from recorded data
 * (verifier answers) are recorded for every deployed batch. Idempotent, and incremental: each part
 * is skipped when its inputs did not change since it last ran (`learning_refresh_state`): the library
 * by its stamp (library-stamp.ts), the verifier feed by a watermark of the newest value written, the
 * newest verifier answer cached and the deployed batches.
 */
export async function refreshLearning(db: Db): Promise<RefreshResult> {
  let librarySynced = false;
  if (!(await libraryUnchanged(db))) {
    // loaded only when needed: the library's parser (YAML, schemas) is most of a cold refresh's imports
    const { syncLibrary } = await import('./library.ts');
    await syncLibrary(db);
    librarySynced = true;
  }
  const batchesAttached = await attachDeployedBatches(db);
  const stamp = await outcomesWatermark(db);
  const seen = await db.query<{ stamp: string }>(
    "SELECT stamp FROM learning_refresh_state WHERE name = 'outcomes'",
  );
  if (seen.rows[0]?.stamp === stamp)
    return { outcomesAdded: 0, batchesAttached, librarySynced, outcomesFed: false };
  const batches = (
    await db.query<{ batch_id: number }>('SELECT batch_id FROM deployment_batches ORDER BY batch_id')
  ).rows.map((r) => Number(r.batch_id));
  const outcomesAdded = batches.length ? await feedVerifierOutcomes(db, batches) : 0;
  await db.query(
    `INSERT INTO learning_refresh_state (name, stamp) VALUES ('outcomes', $1)
     ON CONFLICT (name) DO UPDATE SET stamp = EXCLUDED.stamp, updated_at = now()`,
    [stamp],
  );
  return { outcomesAdded, batchesAttached, librarySynced, outcomesFed: true };
}

/**
 * Changes whenever the verifier feed could add an outcome: a value written (the records' port), a
 * verifier answer cached (the cache's port), a batch joining a deployment.
 */
async function outcomesWatermark(db: Queryable): Promise<string> {
  const deployed = await db.query<{ n: number; sum: string | null }>(
    'SELECT count(*)::int AS n, sum(batch_id)::text AS sum FROM deployment_batches',
  );
  return [
    `values:${await fieldValuesWatermark(db)}`,
    `verifiers:${await cacheWatermark(db, VERIFIERS)}`,
    `batches:${deployed.rows[0]?.n ?? 0}:${deployed.rows[0]?.sum ?? ''}`,
  ].join(' ');
}
