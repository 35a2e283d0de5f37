import type { Queryable } from '../db/db.ts';
import { CURRENT_ORDER_SQL } from './current-value-rule.ts';
import { ENTITY_TABLE, type EntityType } from './record-fields.ts';

/** A record's current values: its columns, then its attributes (a column is never shadowed). */
export type RecordValues = { id: number } & Record<string, unknown>;

/** Flattens a table row: `attributes` merged in, `name_key` (an internal dedupe key) dropped. */
export function flattenRow(row: Record<string, unknown>): RecordValues {
  const { attributes, name_key: _nameKey, ...columns } = row;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((attributes ?? {}) as Record<string, unknown>)) out[k] = v;
  Object.assign(out, columns);
  return out as RecordValues;
}

/** Current values of one account or contact, or undefined when it does not exist. */
export async function readRecord(
  q: Queryable,
  type: EntityType,
  id: number,
): Promise<RecordValues | undefined> {
  const rows = await readRecords(q, type, [id]);
  return rows[0];
}

/** Current values of several records, in id order. */
export async function readRecords(q: Queryable, type: EntityType, ids: number[]): Promise<RecordValues[]> {
  const r = await q.query<Record<string, unknown>>(
    `SELECT * FROM ${ENTITY_TABLE[type]} WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [ids],
  );
  return r.rows.map(flattenRow);
}

/** The field_values row that supplies a field's current value: its provenance. */
export interface CurrentFieldValue {
  value: unknown;
  source: string;
  provider: string | null;
  operation: string | null;
  costUsd: number;
  confidence: number | null;
  observedAt: Date;
  runId: number | null;
  importId: number | null;
}

/** Provenance of the current value of every field of the given records: id → field → row. */
export async function readCurrentFieldValues(
  q: Queryable,
  type: EntityType,
  ids: number[],
): Promise<Map<number, Map<string, CurrentFieldValue>>> {
  const r = await q.query<{
    entity_id: number;
    field: string;
    value: unknown;
    source: string;
    provider: string | null;
    operation: string | null;
    cost_usd: number;
    confidence: number | null;
    observed_at: Date | string;
    run_id: number | null;
    import_id: number | null;
  }>(
    `SELECT DISTINCT ON (fv.entity_id, fv.field) fv.entity_id, fv.field, fv.value, fv.source, fv.provider,
            fv.operation, fv.cost_usd, fv.confidence, fv.observed_at, fv.run_id, fv.import_id
     FROM field_values fv
     WHERE fv.entity_type = $1 AND fv.entity_id = ANY($2::bigint[])
     ORDER BY fv.entity_id, fv.field, ${CURRENT_ORDER_SQL}`,
    [type, ids],
  );
  const out = new Map<number, Map<string, CurrentFieldValue>>();
  for (const row of r.rows) {
    const fields = out.get(row.entity_id) ?? new Map<string, CurrentFieldValue>();
    out.set(row.entity_id, fields);
    fields.set(row.field, {
      value: row.value,
      source: row.source,
      provider: row.provider,
      operation: row.operation,
      costUsd: row.cost_usd,
      confidence: row.confidence,
      observedAt: new Date(row.observed_at),
      runId: row.run_id,
      importId: row.import_id,
    });
  }
  return out;
}
