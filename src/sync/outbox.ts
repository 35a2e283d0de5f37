import type { Queryable } from '../db/db.ts';

/**
 * The outbox of creates a destination cannot make idempotent (ClickUp tasks): a row is written with
 * the record's deterministic key before the request, and settled after it. A row still open when a
 * sync starts means the last attempt's answer was lost (timeout, 5xx, crash): the record is looked up
 * by its key before anything is sent again, so a retry never makes a second task.
 */
export interface OpenCreate {
  id: number;
  entityType: 'contact' | 'account';
  entityId: number;
  key: string;
  state: 'pending' | 'unknown';
}

export async function openCreates(db: Queryable, syncName: string): Promise<Map<string, OpenCreate>> {
  const r = await db.query<{
    id: string;
    entity_type: 'contact' | 'account';
    entity_id: string;
    key: string;
    state: 'pending' | 'unknown';
  }>(
    `SELECT id, entity_type, entity_id, key, state FROM sync_outbox WHERE sync_name = $1 AND state <> 'done'`,
    [syncName],
  );
  return new Map(
    r.rows.map((x) => [
      `${x.entity_type}:${x.entity_id}`,
      {
        id: Number(x.id),
        entityType: x.entity_type,
        entityId: Number(x.entity_id),
        key: x.key,
        state: x.state,
      },
    ]),
  );
}

/** Opens (or reopens) the outbox row of a create about to be sent; returns its id. */
export async function beginCreate(
  db: Queryable,
  syncName: string,
  entityType: string,
  entityId: number,
  key: string,
): Promise<number> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO sync_outbox (sync_name, entity_type, entity_id, key) VALUES ($1, $2, $3, $4)
     ON CONFLICT (sync_name, entity_type, entity_id) WHERE state <> 'done'
     DO UPDATE SET state = 'pending', updated_at = now() RETURNING id`,
    [syncName, entityType, entityId, key],
  );
  return Number(r.rows[0]!.id);
}

/** The request was sent but its answer is unknown: reconcile before the next attempt. */
export async function markUnknown(db: Queryable, ids: number[]): Promise<void> {
  if (ids.length)
    await db.query(
      `UPDATE sync_outbox SET state = 'unknown', updated_at = now() WHERE id = ANY($1::bigint[])`,
      [ids],
    );
}

/** Settles creates: the remote id is known (created, or found by reconcile), or nothing exists (null). */
export async function settleCreates(
  db: Queryable,
  settled: { id: number; remoteId: string | null }[],
): Promise<void> {
  if (settled.length === 0) return;
  await db.query(
    `UPDATE sync_outbox o SET state = 'done', remote_id = t.remote_id, updated_at = now()
     FROM unnest($1::bigint[], $2::text[]) AS t(id, remote_id) WHERE o.id = t.id`,
    [settled.map((s) => s.id), settled.map((s) => s.remoteId)],
  );
}
