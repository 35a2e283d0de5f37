import { ConfigError } from '../errors.ts';
import { COLUMN_FIELDS } from '../records/record-fields.ts';

/** Which accounts a batch runs on (`sluice run --where/--limit/--ids`). */
export interface AccountSelection {
  /** Filter such as `state=CA and segment!=private`; see parseWhere. */
  where?: string;
  limit?: number;
  ids?: number[];
}

interface Condition {
  field: string;
  op: '=' | '!=' | '~' | 'empty' | 'not_empty';
  value?: string;
}

const COLUMNS = new Set<string>(['id', ...COLUMN_FIELDS.account]);

/**
 * Parses `--where`: conditions joined by `and`, each `field=value`, `field!=value`, `field~text`
 * (contains, any case), `field is empty` or `field is not empty`. A field is an account column or any
 * attribute. Values are passed as parameters, never spliced into SQL.
 */
export function parseWhere(where: string): Condition[] {
  return where
    .split(/\s+and\s+/i)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const empty = /^([a-z_][a-z0-9_]*)\s+is\s+(not\s+)?empty$/i.exec(part);
      if (empty) return { field: empty[1]!.toLowerCase(), op: empty[2] ? 'not_empty' : 'empty' } as Condition;
      const m = /^([a-z_][a-z0-9_]*)\s*(!=|=|~)\s*(.*)$/i.exec(part);
      if (!m) {
        throw new ConfigError(
          `--where: cannot read "${part}". Write conditions like state=CA, segment!=private, name~golf or ` +
            'phone is empty, joined by "and".',
          { exitCode: 2 },
        );
      }
      const value = m[3]!.trim().replace(/^(['"])(.*)\1$/, '$2');
      return { field: m[1]!.toLowerCase(), op: m[2] as Condition['op'], value };
    });
}

/**
 * SQL selecting the ids of the chosen accounts, with placeholders numbered from `firstParam`.
 * Column names come from a fixed list; everything the user typed is a parameter.
 */
export function selectAccountsSql(
  selection: AccountSelection,
  firstParam: number,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  const clauses: string[] = [];
  if (selection.ids && selection.ids.length > 0) clauses.push(`id = ANY(${p(selection.ids)}::bigint[])`);
  for (const c of selection.where ? parseWhere(selection.where) : []) {
    const expr = COLUMNS.has(c.field) ? `${c.field}::text` : `(attributes ->> ${p(c.field)})`;
    if (c.op === 'empty') clauses.push(`coalesce(${expr}, '') = ''`);
    else if (c.op === 'not_empty') clauses.push(`coalesce(${expr}, '') <> ''`);
    else if (c.op === '=') clauses.push(`lower(${expr}) = lower(${p(c.value)})`);
    else if (c.op === '!=') clauses.push(`lower(coalesce(${expr}, '')) <> lower(${p(c.value)})`);
    else clauses.push(`${expr} ILIKE ${p(`%${c.value}%`)}`);
  }
  const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
  const limit = selection.limit !== undefined ? `LIMIT ${p(selection.limit)}` : '';
  return { text: `SELECT id FROM accounts ${where} ORDER BY id ${limit}`, params };
}
