import type { Queryable } from '../db/db.ts';
import { CriticalError } from '../errors.ts';
import { companyNameKey } from '../normalize/company-name-key.ts';
import { personNameKey } from '../normalize/person-name.ts';
import { CURRENT_ORDER_SQL } from './current-value-rule.ts';
import {
  COLUMN_FIELDS,
  ENTITY_TABLE,
  type EntityType,
  isColumnField,
  NAME_FIELDS,
  UNIQUE_FIELDS,
} from './record-fields.ts';

/** What changes on one row: column values, attributes to set, attributes to remove, a new name_key. */
interface RowPatch {
  cols: Record<string, unknown>;
  attrs: Record<string, unknown>;
  unset: string[];
  nameKey?: string | null;
}

/** Column assignments of the UPDATE; identifiers come from the constant lists in record-fields.ts. */
function assignments(type: EntityType): string {
  return COLUMN_FIELDS[type]
    .map((c) => {
      const v = c === 'last_verified_at' ? `(p.cols->>'${c}')::timestamptz` : `p.cols->>'${c}'`;
      // status is NOT NULL: a cleared status keeps the old one
      const value = c === 'status' ? `coalesce(${v}, r.status)` : v;
      return `${c} = CASE WHEN p.cols ? '${c}' THEN ${value} ELSE r.${c} END`;
    })
    .join(',\n  ');
}

const UPDATE_SQL = {
  account: updateSql('account'),
  contact: updateSql('contact'),
};

function updateSql(type: EntityType): string {
  return `UPDATE ${ENTITY_TABLE[type]} r SET
  ${assignments(type)},
  name_key = CASE WHEN p.set_name_key THEN p.name_key ELSE r.name_key END,
  attributes = (r.attributes || p.attrs) - ARRAY(SELECT jsonb_array_elements_text(p.unset)),
  updated_at = now()
FROM unnest($1::bigint[], $2::jsonb[], $3::jsonb[], $4::jsonb[], $5::boolean[], $6::text[])
  AS p(id, cols, attrs, unset, set_name_key, name_key)
WHERE r.id = p.id`;
}

/**
 * Recomputes the current value of the given fields from field_values and writes it on the rows:
 * columns directly, other fields into `attributes`, and `name_key` when a name changed. A value for the
 * unique column (account domain, contact email) that another row already holds is left in field_values
 * but not materialized: two records with one domain are a merge decision, not a side effect.
 */
export async function materializeCurrentValues(
  tx: Queryable,
  type: EntityType,
  touched: Map<number, Set<string>>,
): Promise<void> {
  const ids: number[] = [];
  const fields: string[] = [];
  for (const [id, set] of touched) {
    for (const f of set) {
      ids.push(id);
      fields.push(f);
    }
  }
  const winners = await tx.query<{ id: number; field: string; value: unknown }>(
    `SELECT DISTINCT ON (fv.entity_id, fv.field) fv.entity_id AS id, fv.field, fv.value
     FROM unnest($2::bigint[], $3::text[]) AS t(id, field)
     CROSS JOIN LATERAL (
       SELECT * FROM field_values WHERE entity_type = $1 AND entity_id = t.id AND field = t.field OFFSET 0
     ) fv
     ORDER BY fv.entity_id, fv.field, ${CURRENT_ORDER_SQL}`,
    [type, ids, fields],
  );
  const patches = new Map<number, RowPatch>();
  for (const w of winners.rows) {
    const patch = patches.get(w.id) ?? { cols: {}, attrs: {}, unset: [] };
    patches.set(w.id, patch);
    if (isColumnField(type, w.field)) patch.cols[w.field] = w.value;
    else if (w.value === null) patch.unset.push(w.field);
    else patch.attrs[w.field] = w.value;
  }
  if (patches.size === 0) return;
  await dropUniqueConflicts(tx, type, patches);
  await computeNameKeys(tx, type, patches);
  const entries = [...patches.entries()];
  const result = await tx.query(UPDATE_SQL[type], [
    entries.map(([id]) => id),
    entries.map(([, p]) => JSON.stringify(p.cols)),
    entries.map(([, p]) => JSON.stringify(p.attrs)),
    entries.map(([, p]) => JSON.stringify(p.unset)),
    entries.map(([, p]) => p.nameKey !== undefined),
    entries.map(([, p]) => p.nameKey ?? null),
  ]);
  if (result.rowCount < entries.length) {
    const found = await tx.query<{ id: number }>(`SELECT id FROM ${ENTITY_TABLE[type]} WHERE id = ANY($1)`, [
      entries.map(([id]) => id),
    ]);
    const present = new Set(found.rows.map((r) => r.id));
    const missing = entries.map(([id]) => id).filter((id) => !present.has(id));
    throw new CriticalError(
      `field values written for ${type} id(s) ${missing.slice(0, 10).join(', ')} that do not exist in ${ENTITY_TABLE[type]}`,
    );
  }
}

async function dropUniqueConflicts(
  tx: Queryable,
  type: EntityType,
  patches: Map<number, RowPatch>,
): Promise<void> {
  const field = UNIQUE_FIELDS[type];
  const wanted = [...patches].filter(([, p]) => typeof p.cols[field] === 'string');
  if (wanted.length === 0) return;
  const holders = await tx.query<{ id: number; v: string }>(
    `SELECT r.id, r.v FROM unnest($1::text[]) AS u(v)
     CROSS JOIN LATERAL (SELECT id, ${field} AS v FROM ${ENTITY_TABLE[type]} WHERE ${field} = u.v OFFSET 0) r`,
    [wanted.map(([, p]) => p.cols[field])],
  );
  const holder = new Map(holders.rows.map((r) => [r.v, r.id]));
  for (const [id, p] of wanted) {
    const v = p.cols[field] as string;
    const current = holder.get(v);
    if (current !== undefined && current !== id) delete p.cols[field];
    else holder.set(v, id); // two rows of this batch wanting one value: the first keeps it
  }
}

async function computeNameKeys(
  tx: Queryable,
  type: EntityType,
  patches: Map<number, RowPatch>,
): Promise<void> {
  const nameFields: readonly string[] = NAME_FIELDS[type];
  const changed = [...patches].filter(([, p]) => nameFields.some((f) => f in p.cols));
  if (changed.length === 0) return;
  if (type === 'account') {
    for (const [, p] of changed) p.nameKey = companyNameKey(p.cols.name as string | null) ?? null;
    return;
  }
  const rows = await tx.query<{
    id: number;
    first_name: string | null;
    last_name: string | null;
    full_name: string | null;
  }>('SELECT id, first_name, last_name, full_name FROM contacts WHERE id = ANY($1)', [
    changed.map(([id]) => id),
  ]);
  const byId = new Map(rows.rows.map((r) => [r.id, r]));
  for (const [id, p] of changed) {
    const row = byId.get(id);
    const pick = (f: 'first_name' | 'last_name' | 'full_name') =>
      ((f in p.cols ? p.cols[f] : row?.[f]) ?? undefined) as string | undefined;
    p.nameKey =
      personNameKey({
        firstName: pick('first_name'),
        lastName: pick('last_name'),
        fullName: pick('full_name'),
      }) ?? null;
  }
}
