import { FILTER_COLUMNS, parseWhere, whereSql } from '../engine/selection.ts';

const CONTACT_COLUMNS = new Set<string>(FILTER_COLUMNS.contact);

/**
 * SQL conditions on `contacts` for a `--where` filter (the grammar of selection.ts, applied to contact
 * columns and attributes). Placeholders continue after `params`, which the values are appended to.
 */
export function contactFilterSql(where: string | undefined, params: unknown[]): string[] {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  return where ? [whereSql(parseWhere(where), CONTACT_COLUMNS, p)] : [];
}
