import type { RemoteRecord } from '../crm/define-destination.ts';
import type { Db, Queryable } from '../db/db.ts';
import { writeFieldValues } from '../records/field-values.ts';
import { readCurrentFieldValues } from '../records/read-records.ts';
import type { CompiledField, SyncDefinition } from './compile-sync.ts';
import { decideInbound, type InboundDecision, sameValue } from './inbound-rules.ts';
import { REMOTE_OWNER } from './plan-sync.ts';
import { type Snapshot, snapshotByRemoteId, snapshotOf } from './sync-store.ts';

/**
 * A CRM record as it is now (read after a webhook hint, or found by the poll) against what Sluice knows:
 * each mapped field that comes back (`rule: two-way`, or `never` with a `local` field) is decided by
 * the per-field rules (inbound-rules.ts) and the decision logged in sync_inbound, deduplicated by the
 * event key; applied values become field_values with source `crm` and the CRM's change time; undecidable
 * ones become open conflicts (the sync stops writing that field until one is resolved). What the CRM
 * holds is noted in the snapshot (`remote`), so only-if-blank and the next diff know it.
 */
export interface InboundCounts {
  applied: number;
  echo: number;
  kept: number;
  conflict: number;
  same: number;
  /** Why the record was not considered (created outside Sluice, another sync's record). */
  ignored?: string;
}

export const emptyInbound = (): InboundCounts => ({ applied: 0, echo: 0, kept: 0, conflict: 0, same: 0 });

const KEY = /^sluice:(contact|account):(\d+)$/;

/** The CRM's value of a mapped field (ClickUp custom fields keep their own capitalisation). */
function remoteValue(
  remote: RemoteRecord,
  to: string,
): { value: unknown; changedAt?: Date; source?: string } | undefined {
  if (to in remote.fields) return remote.fields[to];
  const k = Object.keys(remote.fields).find((x) => x.toLowerCase() === to.toLowerCase());
  return k ? remote.fields[k] : undefined;
}

export async function applyRemoteRecord(
  db: Db,
  def: SyncDefinition,
  remote: RemoteRecord,
  via: { eventKey: string; ourSource?: string },
): Promise<InboundCounts> {
  const counts = emptyInbound();
  let snap: Snapshot | undefined = await snapshotByRemoteId(db, def.name, remote.remoteId);
  const m = remote.key ? KEY.exec(remote.key) : null;
  const entityType = snap?.entityType ?? (m?.[1] as 'contact' | 'account' | undefined);
  const entityId = snap?.entityId ?? (m ? Number(m[2]) : undefined);
  if (!entityType || entityId === undefined)
    return { ...counts, ignored: `${def.destination} record ${remote.remoteId} was not written by Sluice` };
  if (entityType !== def.entity)
    return { ...counts, ignored: `${remote.remoteId} is a ${entityType}, ${def.name} syncs ${def.entity}s` };
  const fields = def.fields;
  const local = (await readCurrentFieldValues(db, entityType, [entityId])).get(entityId) ?? new Map();
  await db.transaction(async (tx) => {
    snap ??= await snapshotOf(tx, def.name, entityType, entityId);
    const seen: Record<string, unknown> = {};
    // values both sides now hold (a CRM edit applied, or already ours): the new baseline of `sent`,
    // so the next edit of that field is compared with it, not with what we wrote long ago
    const agreed: Record<string, unknown> = {};
    for (const f of fields) {
      const r = remoteValue(remote, f.to);
      if (!r) continue;
      const wasSent = snap ? f.to in snap.sent : false;
      // keep our representation when it is the same value (8 vs "8"): the diff must stay empty
      seen[f.to] = wasSent && sameValue(r.value, snap!.sent[f.to]) ? snap!.sent[f.to] : r.value;
      if (!f.local || (f.rule !== 'two-way' && f.rule !== 'never')) continue;
      // an account field edited on a contact's record is not this record's to change
      if (f.local.entity !== entityType) continue;
      const ours = local.get(f.local.field);
      const decided =
        via.ourSource && r.source === via.ourSource
          ? { decision: 'echo' as const, reason: 'written by this app (the CRM says so)' }
          : decideInbound({
              policy: f.wins,
              inboundOnly: f.rule === 'never',
              theirs: r.value,
              theirsChangedAt: r.changedAt,
              lastSent: snap?.sent[f.to],
              wasSent,
              lastSeen: snap?.remote[f.to],
              wasSeen: snap ? f.to in snap.remote : false,
              ours: ours?.value,
              oursSource: ours?.source,
              oursAt: ours?.observedAt,
            });
      const at = r.changedAt ?? remote.updatedAt;
      const fresh = await logInbound(
        tx,
        def.name,
        `${via.eventKey}:${f.to}`,
        entityType,
        entityId,
        f,
        r.value,
        at,
        decided,
      );
      if (!fresh) continue; // this event was processed before (a retried delivery)
      counts[decided.decision]++;
      if (decided.decision === 'applied' || (decided.decision === 'same' && sameValue(r.value, ours?.value)))
        agreed[f.to] = seen[f.to];
      if (decided.decision === 'applied') {
        await writeFieldValues(tx, [
          {
            entityType: f.local.entity,
            entityId,
            field: f.local.field,
            value: r.value ?? null,
            source: 'crm',
            provider: def.destination,
            operation: def.name,
            observedAt: at,
          },
        ]);
      } else if (decided.decision === 'conflict') {
        await openConflict(tx, def.name, entityType, entityId, f, ours, r.value, at);
      }
    }
    // reps win on owner: a reassignment in the CRM becomes the record's `owner` (source crm), and
    // routing stops moving the record (plan-sync.ts)
    const owner = remote.fields.owner ?? remote.fields.assignee;
    if (owner && snap) {
      seen[REMOTE_OWNER] = owner.value ?? null;
      const known = REMOTE_OWNER in snap.remote ? snap.remote[REMOTE_OWNER] : (snap.route.owner ?? null);
      if (owner.value && !sameValue(owner.value, known) && !sameValue(owner.value, snap.route.owner)) {
        const at = owner.changedAt ?? remote.updatedAt;
        const f: CompiledField = {
          to: 'owner',
          value: undefined,
          rule: 'two-way',
          nulls: 'skip',
          local: { entity: entityType, field: 'owner' },
          wins: 'crm',
        };
        const d = { decision: 'applied' as const, reason: 'reps win on owner' };
        if (
          await logInbound(tx, def.name, `${via.eventKey}:owner`, entityType, entityId, f, owner.value, at, d)
        ) {
          counts.applied++;
          await writeFieldValues(tx, [
            {
              entityType,
              entityId,
              field: 'owner',
              value: owner.value,
              source: 'crm',
              provider: def.destination,
              operation: def.name,
              observedAt: at,
            },
          ]);
        }
      }
    }
    if (snap && Object.keys(seen).length)
      await tx.query(
        `UPDATE sync_records SET remote = remote || $4::jsonb, sent = sent || $5::jsonb, updated_at = now()
         WHERE sync_name = $1 AND entity_type = $2 AND entity_id = $3`,
        [def.name, entityType, entityId, JSON.stringify(seen), JSON.stringify(agreed)],
      );
  });
  return counts;
}

async function logInbound(
  q: Queryable,
  syncName: string,
  eventKey: string,
  entityType: string,
  entityId: number,
  f: CompiledField,
  value: unknown,
  at: Date,
  d: { decision: InboundDecision; reason: string },
): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO sync_inbound (sync_name, event_key, entity_type, entity_id, field, value, changed_at, decision, reason)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) ON CONFLICT (sync_name, event_key) DO NOTHING RETURNING id`,
    [
      syncName,
      eventKey.slice(0, 500),
      entityType,
      entityId,
      f.to,
      JSON.stringify(value ?? null),
      at.toISOString(),
      d.decision,
      d.reason,
    ],
  );
  return r.rows.length > 0;
}

async function openConflict(
  q: Queryable,
  syncName: string,
  entityType: string,
  entityId: number,
  f: CompiledField,
  ours: { value: unknown; source: string; observedAt: Date } | undefined,
  theirs: unknown,
  at: Date,
): Promise<void> {
  await q.query(
    `INSERT INTO sync_conflicts (sync_name, entity_type, entity_id, field, ours, ours_source, ours_at, theirs, theirs_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9)
     ON CONFLICT (sync_name, entity_type, entity_id, field) WHERE state = 'open'
     DO UPDATE SET ours = excluded.ours, ours_source = excluded.ours_source, ours_at = excluded.ours_at,
                   theirs = excluded.theirs, theirs_at = excluded.theirs_at`,
    [
      syncName,
      entityType,
      entityId,
      f.to,
      JSON.stringify(ours?.value ?? null),
      ours?.source ?? null,
      ours?.observedAt ? new Date(ours.observedAt).toISOString() : null,
      JSON.stringify(theirs ?? null),
      at.toISOString(),
    ],
  );
}
