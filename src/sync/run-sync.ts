import type { DestinationSession, RemoteWrite, RowResult } from '../crm/define-destination.ts';
import type { Db, Queryable } from '../db/db.ts';
import type { SyncDefinition } from './compile-sync.ts';
import { type ConnectOptions, connectDestination } from './connect.ts';
import { loadScopes, type MappedRecord, mapParent, mapRecord, selected } from './map-records.ts';
import { beginCreate, markUnknown, openCreates, settleCreates } from './outbox.ts';
import { modeOps, type Planned, planRecord } from './plan-sync.ts';
import { sendBatch } from './send-batch.ts';
import { openConflictFields } from './sync-conflicts.ts';
import {
  emptyCounts,
  finishSyncRun,
  loadSnapshots,
  type Snapshot,
  type SyncCounts,
  saveSnapshots,
  startSyncRun,
} from './sync-store.ts';

/**
 * One sync of a definition (docs/sync.md): map the records, diff them with their last-sent
 * snapshots, reconcile creates whose answer was lost, then send only what changed, in batches, and
 * record a result per record. Nothing is sent (and the destination is not even connected) when
 * nothing changed. `preview` stops after the diff.
 */
export interface SyncOptions extends ConnectOptions {
  db: Db;
  def: SyncDefinition;
  /** Only the diff: what would be created, updated, archived; no request. */
  preview?: boolean;
  /** Only these record ids (contacts or accounts, as the definition syncs). */
  ids?: number[];
  /**
   * Archive the remote records of these ids whatever the mode (freshness: a contact who left; the
   * record is never rewritten into the person who replaced them). Only ones synced before.
   */
  archive?: number[];
  onProgress?: (p: SyncProgress) => void;
}

export interface SyncProgress {
  total: number;
  done: number;
  counts: SyncCounts;
}

export interface SyncReport {
  runId: number | undefined;
  counts: SyncCounts;
  /** Per planned operation, the record and its fields (preview shows them; run keeps the first 50). */
  plan: {
    op: 'create' | 'update' | 'archive' | 'skip';
    key: string;
    route?: string;
    fields?: string[];
    reason?: string;
  }[];
  errors: { key: string; status: string; error: string }[];
}

type Work = { plan: Extract<Planned, { op: 'create' | 'update' }>; write: RemoteWrite };

export async function runSync(options: SyncOptions): Promise<SyncReport> {
  const { db, def } = options;
  const counts = emptyCounts();
  const scopes = (await loadScopes(db, def, options.ids)).filter((s) => selected(def, s));
  const snaps = await loadSnapshots(db, def.name);
  const open = await openCreates(db, def.name);
  const blocked = await openConflictFields(db, def.name);
  const parents = new Map<number, MappedRecord>();
  for (const s of scopes) {
    const p = mapParent(def, s);
    if (p && !parents.has(p.entityId)) parents.set(p.entityId, p);
  }
  const mapped = scopes.map((s) => mapRecord(def, s));
  const report: SyncReport = { runId: undefined, counts, plan: [], errors: [] };
  const parentDef = def.parent
    ? { ...def, fields: def.parent.fields, spec: { ...def.spec, mode: 'upsert' as const } }
    : undefined;
  const parentPlans = parentDef
    ? [...parents.values()].map((p) => planRecord(parentDef, p, snaps.get(`account:${p.entityId}`)))
    : [];
  const parentRemote = (m: MappedRecord) =>
    m.parentId !== undefined ? (snaps.get(`account:${m.parentId}`)?.remoteId ?? undefined) : undefined;
  let plans = mapped.map((m) =>
    planRecord(def, m, snaps.get(`${m.entityType}:${m.entityId}`), parentRemote(m), blocked),
  );
  const inSelection = new Set(mapped.map((m) => `${m.entityType}:${m.entityId}`));
  const archives = modeOps(def.spec.mode).archive
    ? [...snaps.values()].filter(
        (s) =>
          s.entityType === def.entity &&
          s.remoteId &&
          !s.archived &&
          !inSelection.has(`${s.entityType}:${s.entityId}`) &&
          !options.ids,
      )
    : [];
  if (options.archive?.length) {
    const wanted = new Set(options.archive);
    for (const s of snaps.values())
      if (
        s.entityType === def.entity &&
        s.remoteId &&
        !s.archived &&
        wanted.has(s.entityId) &&
        !archives.includes(s)
      )
        archives.push(s);
  }
  const describe = (p: Planned) => {
    if (p.op === 'unchanged') return;
    const entry = {
      op: p.op,
      key: p.mapped.key,
      ...(p.mapped.route.list ? { route: p.mapped.route.list } : {}),
    };
    if (p.op === 'skip') report.plan.push({ ...entry, reason: p.reason });
    else if (options.preview || report.plan.length < 50)
      report.plan.push({ ...entry, fields: Object.keys(p.send) });
  };
  if (options.preview) {
    for (const p of [...parentPlans, ...plans]) {
      describe(p);
      tally(counts, p);
    }
    for (const s of archives)
      report.plan.push({ op: 'archive', key: `sluice:${s.entityType}:${s.entityId}` });
    counts.archived = archives.length;
    return report;
  }

  const runId = await startSyncRun(db, def.name, def.destination);
  report.runId = runId;
  const stats = options.stats ?? { requests: 0, throttled: 0 };
  let session: DestinationSession | undefined;
  const connect = async () => (session ??= await connectDestination(def, { ...options, stats }));
  try {
    // Creates whose answer was lost: look the key up before sending anything again.
    const reopened = mapped.filter((m) => open.has(`${m.entityType}:${m.entityId}`));
    if (reopened.length) {
      const s = await connect();
      const settled: { id: number; remoteId: string | null }[] = [];
      const found: Snapshot[] = [];
      for (const m of reopened) {
        const o = open.get(`${m.entityType}:${m.entityId}`)!;
        const remoteId = (await s.findByKey(o.key, m.route)) ?? null;
        settled.push({ id: o.id, remoteId });
        const prev = snaps.get(`${m.entityType}:${m.entityId}`);
        if (remoteId && !prev?.remoteId)
          found.push({
            ...(prev ?? blankSnapshot(m)),
            remoteId,
            route: { ...m.route },
            sent: {},
            remote: {},
          });
      }
      await db.transaction(async (tx) => {
        await saveSnapshots(tx, def.name, def.destination, found);
        await settleCreates(tx, settled);
      });
      for (const f of found) snaps.set(`${f.entityType}:${f.entityId}`, f);
      plans = mapped.map((m) =>
        planRecord(def, m, snaps.get(`${m.entityType}:${m.entityId}`), parentRemote(m), blocked),
      );
    }

    const total = plans.length + parentPlans.length + archives.length;
    let done = 0;
    const progress = () =>
      options.onProgress?.({ total, done, counts: { ...counts, requests: stats.requests } });
    for (const p of [...parentPlans, ...plans]) {
      describe(p);
      if (p.op === 'unchanged' || p.op === 'skip') {
        tally(counts, p);
        done++;
      }
    }
    await saveSkips(db, def, plans, snaps);
    progress();

    const send = async (list: Planned[], parent: boolean) => {
      const work = list.filter((p): p is Work['plan'] => p.op === 'create' || p.op === 'update');
      if (work.length === 0) return;
      const s = await connect();
      const size = Math.max(1, s.batchSize);
      const batches: Work[][] = [];
      for (const op of ['create', 'update'] as const) {
        const of = work.filter((w) => w.op === op);
        for (let i = 0; i < of.length; i += size)
          batches.push(
            of.slice(i, i + size).map((plan) => ({
              plan,
              write: toWrite(
                plan,
                parent ? undefined : parentRemote(plan.mapped),
                parent ? undefined : def.spec.match,
              ),
            })),
          );
      }
      const outboxed = !parent && s.createNeedsOutbox;
      const write = (rows: RemoteWrite[]) =>
        parent && s.writeParents ? s.writeParents(rows) : s.write(rows);
      let next = 0;
      const worker = async () => {
        for (let b = batches[next++]; b; b = batches[next++]) {
          const { results, settle } = await sendWork(db, def, b, write, outboxed);
          // the outbox is settled in the same transaction as the snapshots: a crash between the two
          // would leave a create marked done whose remote id no snapshot holds (a second task)
          await db.transaction(async (tx) => {
            await settle(tx);
            await recordResults(tx, def, b, results, snaps, counts, report);
          });
          done += b.length;
          progress();
        }
      };
      await Promise.all(Array.from({ length: Math.min(batches.length, options.concurrency ?? 16) }, worker));
    };
    await send(parentPlans, true);
    if (parentPlans.length)
      plans = mapped.map((m) =>
        planRecord(def, m, snaps.get(`${m.entityType}:${m.entityId}`), parentRemote(m), blocked),
      );
    await send(plans, false);

    if (archives.length) {
      const s = await connect();
      const results = await s.archive(archives.map((a) => a.remoteId!));
      const byId = new Map(results.map((r) => [r.key, r]));
      const rows = archives.map((a) => {
        const r = byId.get(a.remoteId!);
        const ok = r?.status === 'ok';
        if (ok) counts.archived++;
        else counts.retryable++;
        return {
          ...a,
          archived: ok,
          status: ok ? ('ok' as const) : ('retryable' as const),
          error: ok ? null : r && 'error' in r ? r.error : 'no answer',
        };
      });
      await saveSnapshots(db, def.name, def.destination, rows);
      done += archives.length;
    }
    counts.requests = stats.requests;
    progress();
    await finishSyncRun(db, runId, counts);
    return report;
  } catch (err) {
    counts.requests = stats.requests;
    await finishSyncRun(db, runId, counts, (err as Error).message).catch(() => {});
    throw err;
  }
}

function toWrite(
  p: Work['plan'],
  parentRemoteId: string | undefined,
  match: string | undefined,
): RemoteWrite {
  const remoteId = p.op === 'update' ? (p.snapshot.remoteId ?? undefined) : undefined;
  // the natural key finds an existing record the first time only; later the remote id does
  const matchValue = !remoteId && match ? p.mapped.fields[match] : undefined;
  return {
    key: p.mapped.key,
    ...(remoteId ? { remoteId } : {}),
    ...(typeof matchValue === 'string' && matchValue ? { matchValue } : {}),
    fields: p.send,
    route: p.mapped.route,
    ...(parentRemoteId ? { parentRemoteId } : {}),
  };
}

/** Sends one batch; creates that need it go through the outbox around the request. */
async function sendWork(
  db: Db,
  def: SyncDefinition,
  batch: Work[],
  write: (rows: RemoteWrite[]) => Promise<RowResult[]>,
  outboxed: boolean,
): Promise<{ results: RowResult[]; settle: (tx: Queryable) => Promise<void> }> {
  const creates = outboxed ? batch.filter((w) => w.plan.op === 'create') : [];
  const ids = new Map<string, number>();
  for (const w of creates)
    ids.set(
      w.write.key,
      await beginCreate(db, def.name, w.plan.mapped.entityType, w.plan.mapped.entityId, w.write.key),
    );
  const results = await sendBatch(
    batch.map((w) => w.write),
    write,
  );
  const unknown: number[] = [];
  const settled: { id: number; remoteId: string | null }[] = [];
  for (const r of results) {
    const id = ids.get(r.key);
    if (id === undefined) continue;
    if (r.status === 'ok') settled.push({ id, remoteId: r.remoteId });
    else if (r.status === 'permanent') settled.push({ id, remoteId: null });
    else unknown.push(id);
  }
  const settle = async (tx: Queryable) => {
    await markUnknown(tx, unknown);
    await settleCreates(tx, settled);
  };
  return { results, settle };
}

function blankSnapshot(m: MappedRecord): Snapshot {
  return {
    entityType: m.entityType,
    entityId: m.entityId,
    remoteId: null,
    route: {},
    sent: {},
    remote: {},
    sentHash: null,
    status: 'ok',
    error: null,
    failedHash: null,
    failures: 0,
    archived: false,
  };
}

async function recordResults(
  db: Queryable,
  def: SyncDefinition,
  batch: Work[],
  results: RowResult[],
  snaps: Map<string, Snapshot>,
  counts: SyncCounts,
  report: SyncReport,
): Promise<void> {
  const byKey = new Map(results.map((r) => [r.key, r]));
  const rows: Snapshot[] = [];
  for (const { plan, write } of batch) {
    const m = plan.mapped;
    const prev = snaps.get(`${m.entityType}:${m.entityId}`) ?? blankSnapshot(m);
    const r = byKey.get(m.key)!;
    let next: Snapshot;
    if (r.status === 'ok') {
      const base = plan.op === 'create' ? { sent: {}, remote: {} } : prev;
      next = {
        ...prev,
        remoteId: r.remoteId,
        route: { ...m.route, ...(write.parentRemoteId ? { parent: write.parentRemoteId } : {}) },
        sent: { ...base.sent, ...plan.send },
        remote: { ...base.remote, ...plan.send },
        sentHash: m.hash,
        status: 'ok',
        error: r.warning ?? null,
        failedHash: null,
        failures: 0,
        archived: false,
      };
      counts[plan.op === 'create' ? 'created' : 'updated']++;
    } else {
      next = {
        ...prev,
        status: r.status,
        error: r.error,
        failedHash: r.status === 'permanent' ? m.hash : null,
        failures: prev.failures + 1,
      };
      counts[r.status]++;
      if (report.errors.length < 100) report.errors.push({ key: m.key, status: r.status, error: r.error });
    }
    rows.push(next);
    snaps.set(`${m.entityType}:${m.entityId}`, next);
  }
  await saveSnapshots(db, def.name, def.destination, rows);
}

/** Skips are recorded once (status `skipped` with the reason), not on every sync. */
async function saveSkips(
  db: Db,
  def: SyncDefinition,
  plans: Planned[],
  snaps: Map<string, Snapshot>,
): Promise<void> {
  const rows: Snapshot[] = [];
  for (const p of plans) {
    if (p.op !== 'skip') continue;
    const prev = snaps.get(`${p.mapped.entityType}:${p.mapped.entityId}`);
    if (
      prev &&
      (prev.status === 'skipped' || prev.status === 'permanent') &&
      (prev.status === 'permanent' || prev.error === p.reason)
    )
      continue;
    rows.push({ ...(prev ?? blankSnapshot(p.mapped)), status: 'skipped', error: p.reason });
  }
  await saveSnapshots(db, def.name, def.destination, rows);
}

function tally(counts: SyncCounts, p: Planned): void {
  if (p.op === 'unchanged') counts.unchanged++;
  else if (p.op === 'skip') counts.skipped++;
  else if (p.op === 'create') counts.created++;
  else counts.updated++;
}
