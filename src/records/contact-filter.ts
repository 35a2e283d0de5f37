import { parseWhere } from '../engine/selection.ts';
import { COLUMN_FIELDS } from './record-fields.ts';

const CONTACT_COLUMNS = new Set<string>(['id', 'account_id', ...COLUMN_FIELDS.contact]);

/**
 * SQL conditions on `contacts` for a `--where` filter (the grammar of selection.ts, applied to contact
 * columns and attributes). Placeholders continue after `params`, which the values are appended to.
 */
export function contactFilterSql(where: string | undefined, params: unknown[]): string[] {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const clauses: string[] = [];
  for (const c of where ? parseWhere(where) : []) {
    const expr = CONTACT_COLUMNS.has(c.field) ? `${c.field}::text` : `(attributes ->> ${p(c.field)})`;
    if (c.op === 'empty') clauses.push(`coalesce(${expr}, '') = ''`);
    else if (c.op === 'not_empty') clauses.push(`coalesce(${expr}, '') <> ''`);
    else if (c.op === '=') clauses.push(`lower(${expr}) = lower(${p(c.value)})`);
    else if (c.op === '!=') clauses.push(`lower(coalesce(${expr}, '')) <> lower(${p(c.value)})`);
    else clauses.push(`${expr} ILIKE ${p(`%${c.value}%`)}`);
  }
  return clauses;
}
