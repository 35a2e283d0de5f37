import type { RemoteRoute } from '../crm/define-destination.ts';
import type { Queryable } from '../db/db.ts';

/**
 * SQL of the remote-id map and last-sent snapshots (table sync_records) and of sync runs, in one
 * place. A snapshot holds what was last sent (`sent`) and what the destination is known to hold
 * (`remote`: what we sent, then what webhooks and polls reported).
 */
export type RowStatus = 'ok' | 'skipped' | 'retryable' | 'permanent';

export interface Snapshot {
  entityType: 'contact' | 'account';
  entityId: number;
  remoteId: string | null;
  route: RemoteRoute & { parent?: string };
  sent: Record<string, unknown>;
  remote: Record<string, unknown>;
  sentHash: string | null;
  status: RowStatus;
  error: string | null;
  failedHash: string | null;
  failures: number;
  archived: boolean;
}

interface Row {
  entity_type: 'contact' | 'account';
  entity_id: string | number;
  remote_id: string | null;
  route: Snapshot['route'];
  sent: Record<string, unknown>;
  remote: Record<string, unknown>;
  sent_hash: string | null;
  status: RowStatus;
  error: string | null;
  failed_hash: string | null;
  failures: number;
  archived: boolean;
}

const toSnapshot = (r: Row): Snapshot => ({
  entityType: r.entity_type,
  entityId: Number(r.entity_id),
  remoteId: r.remote_id,
  route: r.route,
  sent: r.sent,
  remote: r.remote,
  sentHash: r.sent_hash,
  status: r.status,
  error: r.error,
  failedHash: r.failed_hash,
  failures: r.failures,
  archived: r.archived,
});

/** Snapshots of a sync, keyed `contact:42`. */
export async function loadSnapshots(db: Queryable, syncName: string): Promise<Map<string, Snapshot>> {
  const r = await db.query<Row>('SELECT * FROM sync_records WHERE sync_name = $1', [syncName]);
  return new Map(r.rows.map((row) => [`${row.entity_type}:${row.entity_id}`, toSnapshot(row)]));
}

/** The snapshot holding a remote id (inbound changes are matched on it). */
export async function snapshotByRemoteId(
  db: Queryable,
  syncName: string,
  remoteId: string,
): Promise<Snapshot | undefined> {
  const r = await db.query<Row>('SELECT * FROM sync_records WHERE sync_name = $1 AND remote_id = $2', [
    syncName,
    remoteId,
  ]);
  return r.rows[0] ? toSnapshot(r.rows[0]) : undefined;
}

/** The snapshot of one record. */
export async function snapshotOf(
  db: Queryable,
  syncName: string,
  entityType: string,
  entityId: number,
): Promise<Snapshot | undefined> {
  const r = await db.query<Row>(
    'SELECT * FROM sync_records WHERE sync_name = $1 AND entity_type = $2 AND entity_id = $3',
    [syncName, entityType, entityId],
  );
  return r.rows[0] ? toSnapshot(r.rows[0]) : undefined;
}

/** Writes snapshots (whole rows, computed by the caller) in one statement. */
export async function saveSnapshots(
  db: Queryable,
  syncName: string,
  destination: string,
  rows: Snapshot[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO sync_records AS s (sync_name, destination, entity_type, entity_id, remote_id, route, sent, sent_hash,
       remote, status, error, failed_hash, failures, archived, synced_at, updated_at)
     SELECT $1, $2, t.entity_type, t.entity_id, t.remote_id, t.route, t.sent, t.sent_hash, t.remote, t.status, t.error,
            t.failed_hash, t.failures, t.archived, CASE WHEN t.status = 'ok' THEN now() END, now()
     FROM unnest($3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::jsonb[], $10::text[],
                 $11::text[], $12::text[], $13::int[], $14::boolean[])
       AS t(entity_type, entity_id, remote_id, route, sent, sent_hash, remote, status, error, failed_hash, failures, archived)
     ON CONFLICT (sync_name, entity_type, entity_id) DO UPDATE SET
       remote_id = excluded.remote_id, route = excluded.route, sent = excluded.sent, sent_hash = excluded.sent_hash,
       remote = excluded.remote, status = excluded.status, error = excluded.error, failed_hash = excluded.failed_hash,
       failures = excluded.failures, archived = excluded.archived,
       synced_at = coalesce(excluded.synced_at, s.synced_at), updated_at = now()`,
    [
      syncName,
      destination,
      rows.map((r) => r.entityType),
      rows.map((r) => r.entityId),
      rows.map((r) => r.remoteId),
      rows.map((r) => JSON.stringify(r.route)),
      rows.map((r) => JSON.stringify(r.sent)),
      rows.map((r) => r.sentHash),
      rows.map((r) => JSON.stringify(r.remote)),
      rows.map((r) => r.status),
      rows.map((r) => r.error?.slice(0, 1000) ?? null),
      rows.map((r) => r.failedHash),
      rows.map((r) => r.failures),
      rows.map((r) => r.archived),
    ],
  );
}

/** Records what a webhook or poll saw in the destination (`remote`), field by field. */
export async function noteRemoteValues(
  db: Queryable,
  syncName: string,
  entityType: string,
  entityId: number,
  values: Record<string, unknown>,
): Promise<void> {
  await db.query(
    `UPDATE sync_records SET remote = remote || $4::jsonb, updated_at = now()
     WHERE sync_name = $1 AND entity_type = $2 AND entity_id = $3`,
    [syncName, entityType, entityId, JSON.stringify(values)],
  );
}

export type SyncCounts = Record<
  'created' | 'updated' | 'archived' | 'unchanged' | 'skipped' | 'retryable' | 'permanent' | 'requests',
  number
>;

export const emptyCounts = (): SyncCounts => ({
  created: 0,
  updated: 0,
  archived: 0,
  unchanged: 0,
  skipped: 0,
  retryable: 0,
  permanent: 0,
  requests: 0,
});

export async function startSyncRun(db: Queryable, syncName: string, destination: string): Promise<number> {
  const r = await db.query<{ id: string }>(
    'INSERT INTO sync_runs (sync_name, destination) VALUES ($1, $2) RETURNING id',
    [syncName, destination],
  );
  return Number(r.rows[0]!.id);
}

export async function finishSyncRun(
  db: Queryable,
  id: number,
  counts: SyncCounts,
  error?: string,
): Promise<void> {
  await db.query(
    `UPDATE sync_runs SET finished_at = now(), status = $2, counts = $3::jsonb, error = $4 WHERE id = $1`,
    [id, error ? 'failed' : 'done', JSON.stringify(counts), error ?? null],
  );
}
