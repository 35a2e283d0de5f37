import type { DestinationSession, RemoteRecord } from '../crm/define-destination.ts';
import type { Db } from '../db/db.ts';
import { upsertRecords } from '../import/upsert-records.ts';
import type { CompiledField, SyncDefinition } from './compile-sync.ts';
import { type ConnectOptions, connectDestination } from './connect.ts';
import { type InverseKind, invertFields, knownSpellings } from './invert-mapping.ts';
import { REMOTE_OWNER } from './plan-sync.ts';
import { loadSnapshots, type Snapshot, saveSnapshots } from './sync-store.ts';

/**
 * `sluice crm pull <sync>`: imports the CRM's existing records into Sluice so reads are local. Every
 * record of the sync's object is read (in bounded windows, oldest change first) and mapped back
 * through the inverse of each field's mapping (invert-mapping.ts: plain `{{contact.email}}`, `local:`
 * fields, text templates, case transforms; a field whose mapping cannot be inverted is reported with
 * the reason, and a value that does not fit its template is counted per field), then created or
 * merged exactly as an import would (the importer's normalisation and dedupe: email, domain), its values
 * recorded with source `crm` (provider = the destination, observed at the CRM record's update time). Each
 * pulled record is linked to its remote id (the remote-id map), so the next sync updates it instead
 * of creating a duplicate. Records Sluice wrote itself, or already linked, are skipped.
 */
export interface PullCounts {
  read: number;
  created: number;
  merged: number;
  linked: number;
  skipped: number;
  rejected: { remoteId: string; error: string }[];
  /** How each mapped field was read back: its local fields, or why it cannot be. */
  fields: PulledField[];
}

export interface PulledField {
  to: string;
  kind: InverseKind;
  /** `contact.email`, `account.segment`… */
  locals: string[];
  reason?: string;
  /** Records whose value was read into Sluice. */
  read: number;
  /** Records whose value does not fit the template (nothing of it was taken), with one example why. */
  mismatched: number;
  mismatch?: string;
}

export interface PullReport extends PullCounts {
  requests: number;
  /** The parent object's records (HubSpot companies → accounts), pulled first. */
  parents?: PullCounts;
}

function value(rec: RemoteRecord, to: string): unknown {
  const k = to in rec.fields ? to : Object.keys(rec.fields).find((x) => x.toLowerCase() === to.toLowerCase());
  return k ? rec.fields[k]?.value : undefined;
}

type Changes = (since: Date, cursor?: string) => Promise<{ records: RemoteRecord[]; next?: string }>;

export async function pullCrm(
  options: ConnectOptions & { db: Db; def: SyncDefinition; session?: DestinationSession },
): Promise<PullReport> {
  const { db, def } = options;
  const stats = options.stats ?? { requests: 0, throttled: 0 };
  const report: PullReport = { ...emptyCounts(), requests: 0 };
  const session = options.session ?? (await connectDestination(def, { ...options, stats }));
  const snaps = await loadSnapshots(db, def.name);
  // remote ids per entity: a HubSpot company and a contact may share a number
  const linked = new Set(
    [...snaps.values()].filter((s) => s.remoteId).map((s) => `${s.entityType}:${s.remoteId}`),
  );
  // The parent object first (HubSpot companies): the contacts' sync then associates with them and
  // upserts no second company for a course the CRM already has.
  if (def.parent && session.parentChanges) {
    const parents = emptyCounts();
    await pullObject(
      db,
      def,
      'account',
      def.parent.fields,
      session.parentChanges.bind(session),
      snaps,
      linked,
      parents,
    );
    report.parents = parents;
  }
  await pullObject(db, def, def.entity, def.fields, session.changes.bind(session), snaps, linked, report);
  report.requests = stats.requests;
  return report;
}

const emptyCounts = (): PullCounts => ({
  read: 0,
  created: 0,
  merged: 0,
  linked: 0,
  skipped: 0,
  rejected: [],
  fields: [],
});

async function pullObject(
  db: Db,
  def: SyncDefinition,
  entity: 'contact' | 'account',
  fields: CompiledField[],
  changes: Changes,
  snaps: Map<string, Snapshot>,
  linked: Set<string>,
  report: PullCounts,
): Promise<void> {
  const inverses = invertFields(fields);
  const spellings = await knownSpellings(db, inverses, [def.list, def.owner]);
  const stats = inverses.map(
    (i): PulledField => ({
      to: i.to,
      kind: i.kind,
      locals: i.locals.map((l) => `${l.entity}.${l.field}`),
      ...(i.reason ? { reason: i.reason } : {}),
      read: 0,
      mismatched: 0,
    }),
  );
  report.fields = stats;
  const kind = entity === 'contact' ? 'contacts' : 'accounts';
  let since = new Date(0);
  for (let windows = 0; windows < 1_000; windows++) {
    let cursor: string | undefined;
    let newest = since;
    let seen = 0;
    do {
      const page = await changes(since, cursor);
      cursor = page.next;
      seen += page.records.length;
      const fresh = page.records.filter((r) => {
        if (r.updatedAt > newest) newest = r.updatedAt;
        const ours = linked.has(`${entity}:${r.remoteId}`) || (r.key?.startsWith('sluice:') ?? false);
        if (ours) report.skipped++;
        return !ours && !r.archived;
      });
      report.read += page.records.length;
      if (fresh.length === 0) continue;
      const rows = fresh.map((r) => {
        const row: Record<string, unknown> = {};
        const account: Record<string, unknown> = {};
        inverses.forEach((inv, n) => {
          const got = inv.read(value(r, inv.to), (ref) => spellings.get(`${ref.entity}.${ref.field}`) ?? []);
          if (!got) return;
          if ('mismatch' in got) {
            stats[n]!.mismatched++;
            stats[n]!.mismatch ??= `${inv.to} of ${r.remoteId}: ${got.mismatch}`;
            return;
          }
          let took = false;
          for (const [key, v] of got.values) {
            const [e, field] = key.split('.') as ['contact' | 'account', string];
            const target = e === entity ? row : account;
            // plain and local fields come first and win over what a template gives
            if (field in target) continue;
            target[field] = v;
            took = true;
          }
          if (took) stats[n]!.read++;
        });
        if (kind === 'contacts' && Object.keys(account).length) row.account = account;
        return row;
      });
      const results = await upsertRecords(db, kind, rows, {
        source: 'crm',
        origin: `crm:${def.destination}`,
        provenance: {
          provider: def.destination,
          operation: `crm pull ${def.name}`,
          observedAt: (i) => fresh[i]?.updatedAt,
        },
      });
      const links: Snapshot[] = [];
      for (const res of results) {
        const rec = fresh[res.index]!;
        if ('error' in res) {
          report.rejected.push({ remoteId: rec.remoteId, error: res.error });
          continue;
        }
        if (res.outcome === 'inserted') report.created++;
        else report.merged++;
        const prev = snaps.get(`${entity}:${res.id}`);
        // a Sluice record already linked to another remote record: the CRM holds a duplicate
        if (prev?.remoteId && prev.remoteId !== rec.remoteId) {
          report.rejected.push({
            remoteId: rec.remoteId,
            error: `a duplicate in ${def.destination} of ${prev.remoteId} (both are ${entity} ${res.id}); merge them there`,
          });
          continue;
        }
        const remote: Record<string, unknown> = Object.fromEntries(
          fields.map((f) => [f.to, value(rec, f.to) ?? null]),
        );
        // a rep already owns it: routing must not reassign it (plan-sync.ts)
        remote[REMOTE_OWNER] = (rec.fields.owner ?? rec.fields.assignee)?.value ?? null;
        const snap: Snapshot = {
          entityType: entity,
          entityId: res.id,
          remoteId: rec.remoteId,
          route: {},
          sent: {},
          remote,
          sentHash: null,
          status: 'ok',
          error: null,
          failedHash: null,
          failures: 0,
          archived: false,
        };
        links.push(snap);
        snaps.set(`${entity}:${res.id}`, snap);
        linked.add(`${entity}:${rec.remoteId}`);
      }
      await saveSnapshots(db, def.name, def.destination, links);
      report.linked += links.length;
    } while (cursor);
    if (seen < 10_000 || newest.getTime() <= since.getTime()) break;
    since = newest;
  }
}
