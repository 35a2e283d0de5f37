import type { CompiledField, SyncDefinition } from './compile-sync.ts';
import type { MappedRecord } from './map-records.ts';
import type { SyncMode } from './sync-schema.ts';
import type { Snapshot } from './sync-store.ts';

/**
 * The diff: what one record needs, from its mapped values and its last-sent snapshot. Only changed
 * fields are sent; each field's write rule and null rule decide whether a changed value goes.
 * Modes are operation sets; a record its mode forbids is a logged skip, never an error.
 */
export type Planned =
  | { op: 'create'; mapped: MappedRecord; send: Record<string, unknown> }
  | { op: 'update'; mapped: MappedRecord; snapshot: Snapshot; send: Record<string, unknown> }
  | { op: 'unchanged'; mapped: MappedRecord }
  | { op: 'skip'; mapped: MappedRecord; reason: string };

const OPS: Record<SyncMode, { create: boolean; update: boolean; archive: boolean }> = {
  upsert: { create: true, update: true, archive: false },
  'update-only': { create: false, update: true, archive: false },
  'insert-only': { create: true, update: false, archive: false },
  mirror: { create: true, update: true, archive: true },
};

export const modeOps = (mode: SyncMode) => OPS[mode];

/** Where the snapshot's `remote` keeps the owner the CRM reported (webhooks, polls). */
export const REMOTE_OWNER = '__owner';

const blank = (v: unknown) => v === null || v === undefined || v === '';
export const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Fields of a create: every value we have (never-rule fields are not ours to write). */
function createFields(fields: CompiledField[], mapped: MappedRecord): Record<string, unknown> {
  const send: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.rule === 'never') continue;
    const v = mapped.fields[f.to];
    if (!blank(v)) send[f.to] = v;
  }
  return send;
}

/** Fields of an update: compared with what the destination is known to hold (sent, then seen). */
export function changedFields(
  fields: CompiledField[],
  mapped: MappedRecord,
  snap: Snapshot,
  blocked?: ReadonlySet<string>,
): Record<string, unknown> {
  const send: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.rule === 'never') continue;
    // an open conflict: neither side's value is sent until someone resolves it
    if (blocked?.has(`${mapped.entityType}:${mapped.entityId}:${f.to}`)) continue;
    const v = mapped.fields[f.to] ?? null;
    const known = f.to in snap.remote ? snap.remote[f.to] : snap.sent[f.to];
    if (v === null) {
      // the null rule: by default a null is never sent over a value
      if (f.nulls === 'clear' && !blank(known)) send[f.to] = null;
      continue;
    }
    if (f.rule === 'only-if-blank') {
      if (blank(known)) send[f.to] = v;
      continue;
    }
    if (!same(v, known)) send[f.to] = v;
  }
  return send;
}

export function planRecord(
  def: SyncDefinition,
  mapped: MappedRecord,
  snap: Snapshot | undefined,
  parentRemoteId?: string,
  blocked?: ReadonlySet<string>,
): Planned {
  const ops = OPS[def.spec.mode];
  if (snap?.status === 'permanent' && snap.failedHash === mapped.hash)
    return {
      op: 'skip',
      mapped,
      reason: `rejected before and unchanged since: ${snap.error ?? 'permanent error'}`,
    };
  if (!snap?.remoteId) {
    if (!ops.create)
      return {
        op: 'skip',
        mapped,
        reason: `not in ${def.destination} yet, and mode ${def.spec.mode} never creates`,
      };
    return { op: 'create', mapped, send: createFields(def.fields, mapped) };
  }
  if (!ops.update) return { op: 'unchanged', mapped };
  const send = changedFields(def.fields, mapped, snap, blocked);
  // reps win on owner: routing moves a record only while its owner is still the one we routed it to
  const crmOwner = snap.remote[REMOTE_OWNER];
  const ownerMoved =
    (mapped.route.owner ?? null) !== (snap.route.owner ?? null) &&
    (crmOwner === undefined || crmOwner === null || crmOwner === (snap.route.owner ?? null));
  const parentMoved = parentRemoteId !== undefined && parentRemoteId !== snap.route.parent;
  if (Object.keys(send).length === 0 && !ownerMoved && !parentMoved && !snap.archived)
    return { op: 'unchanged', mapped };
  return { op: 'update', mapped, snapshot: snap, send };
}
