import type { Queryable } from '../db/db.ts';
import { COLUMN_FIELDS, ENTITY_TABLE, type EntityType } from '../records/record-fields.ts';

/** Suffixes of the provenance columns `--provenance` adds after each field. */
export const PROVENANCE_SUFFIXES = ['source', 'provider', 'cost_usd', 'observed_at'] as const;

export interface ExportColumns {
  /** Record fields in output order: columns of the table, then attributes (sorted). */
  fields: string[];
  /** Every output column: identity, fields (each followed by its provenance columns when asked), timestamps. */
  header: string[];
}

/** Leading columns: the id, and for contacts the account they belong to. */
export const LEAD_COLUMNS: Record<EntityType, string[]> = {
  account: ['id'],
  contact: ['id', 'account_id', 'account_name', 'account_domain'],
};

const TRAILING = ['created_at', 'updated_at'];

/**
 * The columns of an export. Attributes differ per record, so their names are collected first (one
 * query) to give a CSV a fixed header. `provenance` adds `<field>__source`, `__provider`,
 * `__cost_usd`, `__observed_at` after each field, from the field value that is current.
 */
export async function exportColumns(
  q: Queryable,
  type: EntityType,
  options: { provenance?: boolean } = {},
): Promise<ExportColumns> {
  const r = await q.query<{ key: string }>(
    `SELECT DISTINCT jsonb_object_keys(attributes) AS key FROM ${ENTITY_TABLE[type]} ORDER BY 1`,
  );
  const columns: readonly string[] = COLUMN_FIELDS[type];
  const taken = new Set([...columns, ...LEAD_COLUMNS[type], ...TRAILING]);
  const fields = [...columns, ...r.rows.map((row) => row.key).filter((k) => !taken.has(k))];
  const header = [...LEAD_COLUMNS[type]];
  for (const f of fields) {
    header.push(f);
    if (options.provenance) for (const s of PROVENANCE_SUFFIXES) header.push(`${f}__${s}`);
  }
  header.push(...TRAILING);
  return { fields, header };
}
