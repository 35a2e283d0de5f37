import type { Queryable } from '../db/db.ts';

/** What `sluice sync status|errors` shows: the last runs and the records that did not sync. */
export interface SyncStatusRow {
  syncName: string;
  destination: string;
  records: number;
  ok: number;
  skipped: number;
  retryable: number;
  permanent: number;
  lastRun: {
    id: number;
    startedAt: Date;
    finishedAt: Date | null;
    status: string;
    counts: Record<string, number>;
    error: string | null;
  } | null;
}

export async function syncStatus(db: Queryable, syncName?: string): Promise<SyncStatusRow[]> {
  const r = await db.query<{
    sync_name: string;
    destination: string;
    records: number;
    ok: number;
    skipped: number;
    retryable: number;
    permanent: number;
  }>(
    `SELECT sync_name, min(destination) AS destination, count(*)::int AS records,
            count(*) FILTER (WHERE status = 'ok')::int AS ok, count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
            count(*) FILTER (WHERE status = 'retryable')::int AS retryable,
            count(*) FILTER (WHERE status = 'permanent')::int AS permanent
     FROM sync_records WHERE ($1::text IS NULL OR sync_name = $1) GROUP BY sync_name ORDER BY sync_name`,
    [syncName ?? null],
  );
  const runs = await db.query<{
    id: string;
    sync_name: string;
    destination: string;
    started_at: Date;
    finished_at: Date | null;
    status: string;
    counts: Record<string, number>;
    error: string | null;
  }>(
    `SELECT DISTINCT ON (sync_name) id, sync_name, destination, started_at, finished_at, status, counts, error
     FROM sync_runs WHERE ($1::text IS NULL OR sync_name = $1) ORDER BY sync_name, id DESC`,
    [syncName ?? null],
  );
  const out = new Map<string, SyncStatusRow>();
  for (const x of r.rows)
    out.set(x.sync_name, {
      syncName: x.sync_name,
      destination: x.destination,
      records: x.records,
      ok: x.ok,
      skipped: x.skipped,
      retryable: x.retryable,
      permanent: x.permanent,
      lastRun: null,
    });
  for (const run of runs.rows) {
    const row = out.get(run.sync_name) ?? {
      syncName: run.sync_name,
      destination: run.destination,
      records: 0,
      ok: 0,
      skipped: 0,
      retryable: 0,
      permanent: 0,
      lastRun: null,
    };
    row.lastRun = {
      id: Number(run.id),
      startedAt: new Date(run.started_at),
      finishedAt: run.finished_at ? new Date(run.finished_at) : null,
      status: run.status,
      counts: run.counts,
      error: run.error,
    };
    out.set(run.sync_name, row);
  }
  return [...out.values()];
}

export interface SyncErrorRow {
  syncName: string;
  entityType: string;
  entityId: number;
  remoteId: string | null;
  status: string;
  error: string | null;
  failures: number;
  updatedAt: Date;
}

/** Records whose last attempt was not ok: retryable ones go again on every sync; permanent ones once changed. */
export async function syncErrors(db: Queryable, syncName?: string, limit = 100): Promise<SyncErrorRow[]> {
  const r = await db.query<{
    sync_name: string;
    entity_type: string;
    entity_id: string;
    remote_id: string | null;
    status: string;
    error: string | null;
    failures: number;
    updated_at: Date;
  }>(
    `SELECT sync_name, entity_type, entity_id, remote_id, status, error, failures, updated_at FROM sync_records
     WHERE status <> 'ok' AND ($1::text IS NULL OR sync_name = $1) ORDER BY updated_at DESC LIMIT $2`,
    [syncName ?? null, limit],
  );
  return r.rows.map((x) => ({
    syncName: x.sync_name,
    entityType: x.entity_type,
    entityId: Number(x.entity_id),
    remoteId: x.remote_id,
    status: x.status,
    error: x.error,
    failures: x.failures,
    updatedAt: new Date(x.updated_at),
  }));
}
