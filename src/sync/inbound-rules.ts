import type { WinPolicy } from './sync-schema.ts';

/**
 * The per-field rules of a CRM edit (docs/sync.md "Two-way"), as one pure function so every case is
 * tested alone. In order:
 *
 * 1. the value is what we last wrote → `echo` (our own push coming back: ignored, never a CRM edit);
 * 2. the value is what the CRM was already known to hold, or already the local value → `same`; so
 *    is the first value seen of a field Sluice never writes (the CRM's default, not an edit);
 * 3. the field's policy:
 *    - `sluice` (the verifier wins on deliverability): `kept`, our value is sent again;
 *    - a manual edit in Sluice wins: when the current local value was typed by a person, `kept` (or a
 *      `conflict` under the `crm` policy, where reps win too: two people disagree);
 *    - `crm` (reps win on owner, stage, notes): `applied`;
 *    - `newest` (title, phone): `applied` when our side did not change since we sent it; when both
 *      sides changed, the newer wins if the CRM gave a per-field change time (HubSpot history); with
 *      only a record-level time (ClickUp, GoHighLevel) it cannot be told: `conflict`.
 */
export type InboundDecision = 'applied' | 'echo' | 'kept' | 'conflict' | 'same';

export interface InboundCase {
  policy: WinPolicy;
  /** A field Sluice never writes (`rule: never`, e.g. the task status as the rep's stage). */
  inboundOnly: boolean;
  /** The value the CRM holds now. */
  theirs: unknown;
  /** When the CRM says this field changed (per-field history), if it says. */
  theirsChangedAt: Date | undefined;
  /** What we last wrote to this field, if we ever did. */
  lastSent: unknown;
  /** Whether we ever wrote it (a null we never sent is not the same as having sent null). */
  wasSent: boolean;
  /** What the CRM was last known to hold (webhooks, polls), if known. */
  lastSeen: unknown;
  wasSeen: boolean;
  /** The current local value and its provenance. */
  ours: unknown;
  oursSource: string | undefined;
  oursAt: Date | undefined;
}

/** Values as compared across systems: blank is null, text trimmed, emails and numbers in one form. */
export function comparable(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.length ? JSON.stringify(v.map(comparable)) : null;
  if (typeof v === 'object') return JSON.stringify(v);
  const s = String(v).trim();
  if (s === '') return null;
  if (/^[^@\s]+@[^@\s]+$/.test(s)) return s.toLowerCase();
  if (/^-?\d+(\.\d+)?$/.test(s)) return String(Number(s));
  return s;
}

export const sameValue = (a: unknown, b: unknown) => comparable(a) === comparable(b);

export function decideInbound(c: InboundCase): { decision: InboundDecision; reason: string } {
  if (c.wasSent && sameValue(c.theirs, c.lastSent))
    return { decision: 'echo', reason: 'the value we last wrote' };
  if (c.wasSeen && sameValue(c.theirs, c.lastSeen)) return { decision: 'same', reason: 'already known' };
  if (sameValue(c.theirs, c.ours)) return { decision: 'same', reason: 'already the local value' };
  // the first value seen of a field we never write is the CRM's default ("to do"), not a rep's edit
  if (c.inboundOnly && !c.wasSeen) return { decision: 'same', reason: 'first value seen (baseline)' };
  if (c.policy === 'sluice') return { decision: 'kept', reason: 'Sluice wins this field (verified value)' };
  const manual = c.oursSource === 'manual' && comparable(c.ours) !== null;
  if (c.policy === 'crm') {
    if (manual)
      return {
        decision: 'conflict',
        reason: 'reps win this field, but it was edited by hand in Sluice',
      };
    return { decision: 'applied', reason: 'reps win this field' };
  }
  if (manual) return { decision: 'kept', reason: 'a manual edit in Sluice wins' };
  const oursChanged = c.wasSent ? !sameValue(c.ours, c.lastSent) : comparable(c.ours) !== null;
  if (!oursChanged) return { decision: 'applied', reason: 'newer: unchanged in Sluice since it was sent' };
  if (c.theirsChangedAt && c.oursAt) {
    return c.theirsChangedAt.getTime() > c.oursAt.getTime()
      ? { decision: 'applied', reason: 'newer evidence in the CRM (per-field change time)' }
      : { decision: 'kept', reason: 'newer evidence in Sluice (per-field change time)' };
  }
  return {
    decision: 'conflict',
    reason: 'changed on both sides since the last sync and the CRM gives only a record-level time',
  };
}
