import type { Db, Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { writeFieldValues } from '../records/field-values.ts';
import type { SyncDefinition } from './compile-sync.ts';

/**
 * Values the per-field rules could not decide (`sluice sync conflicts`). While one is open the sync
 * writes neither side's value to that field; resolving it picks a side: `crm` records the CRM's value
 * as a manual edit (a person chose it), `sluice` keeps ours and the next sync sends it.
 */
export interface ConflictRow {
  id: number;
  syncName: string;
  entityType: 'contact' | 'account';
  entityId: number;
  field: string;
  ours: unknown;
  oursSource: string | null;
  oursAt: Date | null;
  theirs: unknown;
  theirsAt: Date;
  createdAt: Date;
}

/** `contact:42:Email` of every open conflict of a sync. */
export async function openConflictFields(db: Queryable, syncName: string): Promise<Set<string>> {
  const r = await db.query<{ entity_type: string; entity_id: string; field: string }>(
    `SELECT entity_type, entity_id, field FROM sync_conflicts WHERE sync_name = $1 AND state = 'open'`,
    [syncName],
  );
  return new Set(r.rows.map((x) => `${x.entity_type}:${x.entity_id}:${x.field}`));
}

export async function listConflicts(db: Queryable, syncName?: string, limit = 100): Promise<ConflictRow[]> {
  const r = await db.query<{
    id: string;
    sync_name: string;
    entity_type: 'contact' | 'account';
    entity_id: string;
    field: string;
    ours: unknown;
    ours_source: string | null;
    ours_at: Date | null;
    theirs: unknown;
    theirs_at: Date;
    created_at: Date;
  }>(
    `SELECT * FROM sync_conflicts WHERE state = 'open' AND ($1::text IS NULL OR sync_name = $1)
     ORDER BY id LIMIT $2`,
    [syncName ?? null, limit],
  );
  return r.rows.map((x) => ({
    id: Number(x.id),
    syncName: x.sync_name,
    entityType: x.entity_type,
    entityId: Number(x.entity_id),
    field: x.field,
    ours: x.ours,
    oursSource: x.ours_source,
    oursAt: x.ours_at ? new Date(x.ours_at) : null,
    theirs: x.theirs,
    theirsAt: new Date(x.theirs_at),
    createdAt: new Date(x.created_at),
  }));
}

/** Resolves an open conflict; `def` is the conflict's sync (for the local field of the remote one). */
export async function resolveConflict(
  db: Db,
  def: SyncDefinition,
  id: number,
  side: 'crm' | 'sluice',
): Promise<ConflictRow> {
  const [c] = (await listConflicts(db, def.name, 100_000)).filter((x) => x.id === id);
  if (!c)
    throw new ConfigError(`no open conflict #${id} in ${def.name} (see \`sluice sync conflicts\`)`, {
      exitCode: 2,
    });
  const f = def.fields.find((x) => x.to === c.field);
  if (side === 'crm' && !f?.local)
    throw new ConfigError(
      `${def.name} maps ${c.field} to no local field; it can only be resolved with --sluice`,
    );
  await db.transaction(async (tx) => {
    if (side === 'crm')
      await writeFieldValues(tx, [
        {
          entityType: f!.local!.entity,
          entityId: c.entityId,
          field: f!.local!.field,
          value: c.theirs ?? null,
          source: 'manual',
          operation: `conflict #${id}: kept the ${def.destination} value`,
        },
      ]);
    await tx.query(
      `UPDATE sync_conflicts SET state = 'resolved', resolution = $2, resolved_at = now() WHERE id = $1`,
      [id, side],
    );
  });
  return c;
}
