import type { Db } from '../db/db.ts';
import { writeAccountBatch } from './account-batch.ts';
import { writeContactBatch } from './contact-batch.ts';
import { type ImportKind, mapHeaders, phoneSources } from './header-map.ts';
import { type AccountCandidate, type ContactCandidate, createRowNormalizer } from './row-normalizer.ts';
import type { IntakeProvenance, IntakeSource, RowOutcome } from './write-plan.ts';

export type UpsertResult =
  | { index: number; id: number; outcome: RowOutcome }
  | { index: number; error: string };

export interface UpsertOptions {
  /** Provenance of the values: `api`, `rb2b`, `webhook` rank like an import; `crm` (a pull) like a CRM edit. */
  source: IntakeSource;
  /** Region for phone numbers without a country code. Default `US`. */
  region?: string;
  /** Recorded on the record_events the database trigger writes (`sluice.origin`). Default: the source. */
  origin?: string;
  /** Values from a CRM (`sluice crm pull`): the destination, the sync, each record's change time (by index). */
  provenance?: { provider: string; operation: string; observedAt: (index: number) => Date | undefined };
}

const FIELD_KEY = /^(account\.)?[a-z_][a-z0-9_]*$/;

/** JSON values as the importer's text cells: numbers and booleans as text, objects as JSON. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * Creates or merges records given as objects (the HTTP API, inbound webhooks) through exactly the
 * import's path: the same header mapping (field names as given; other keys through the import's aliases,
 * e.g. RB2B's "Company Name"), the same normalization, dedupe and merge, in one transaction. A contact's
 * company may be given as `account: {…}` or `account.<field>` keys. Each record gets its id and outcome,
 * or the import's reason for rejecting it; the others are written all the same.
 */
export async function upsertRecords(
  db: Db,
  kind: ImportKind,
  records: Record<string, unknown>[],
  options: UpsertOptions,
): Promise<UpsertResult[]> {
  const flat = records.map((r) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      if (k === 'account' && kind === 'contacts' && v && typeof v === 'object' && !Array.isArray(v)) {
        for (const [ak, av] of Object.entries(v)) out[`account.${ak}`] = av;
      } else out[k] = v;
    }
    return out;
  });
  const headers = [...new Set(flat.flatMap((r) => Object.keys(r)))];
  const exact = new Map(headers.filter((h) => FIELD_KEY.test(h)).map((h) => [h, h] as const));
  const targets = mapHeaders(kind, headers, exact, { exactTargets: true });
  const normalizer = createRowNormalizer({
    kind,
    headers,
    targets,
    region: options.region ?? 'US',
    phoneSources: phoneSources(kind, headers, targets),
  });
  const results: UpsertResult[] = [];
  const accepted: { index: number; candidate: AccountCandidate | ContactCandidate }[] = [];
  flat.forEach((r, index) => {
    const values = headers.map((h) => cell(r[h]));
    const n =
      kind === 'accounts'
        ? normalizer.normalizeAccount(index, values)
        : normalizer.normalizeContact(index, values);
    if (n.ok) accepted.push({ index, candidate: n.candidate });
    else results.push({ index, error: n.rejection.reason });
  });
  if (accepted.length > 0) {
    const written = await db.transaction(async (tx) => {
      await tx.query("SELECT set_config('sluice.origin', $1, true)", [options.origin ?? options.source]);
      const candidates = accepted.map((a) => a.candidate);
      const p = options.provenance;
      const prov: IntakeProvenance | undefined = p && {
        ...p,
        observedAt: (row) => p.observedAt(accepted[row]!.index),
      };
      return kind === 'accounts'
        ? writeAccountBatch(tx, candidates as AccountCandidate[], null, options.source, prov)
        : writeContactBatch(tx, candidates as ContactCandidate[], null, options.source, prov);
    });
    accepted.forEach((a, i) => {
      results.push({ index: a.index, id: written.ids[i]!, outcome: written.outcomes[i]! });
    });
  }
  return results.sort((a, b) => a.index - b.index);
}
