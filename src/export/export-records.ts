import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { Queryable } from '../db/db.ts';
import { readCurrentFieldValues } from '../records/read-records.ts';
import type { EntityType } from '../records/record-fields.ts';
import { neutralizeFormula } from './csv-cell.ts';
import { exportColumns } from './export-columns.ts';

export interface ExportOptions {
  kind: 'accounts' | 'contacts';
  /** Default `csv`. `json` writes one array of objects with the same keys as the CSV columns. */
  format?: 'csv' | 'json';
  /** Add `<field>__source/__provider/__cost_usd/__observed_at` from the current field value. Default false. */
  provenance?: boolean;
  /** Records per query. Default 1000. */
  pageSize?: number;
  /**
   * CSV only: write cells exactly as stored. Default false: cells that a spreadsheet would run as a
   * formula (starting with `=`, `+`, `-`, `@`, tab, CR) get a leading `'` (src/export/csv-cell.ts).
   */
  raw?: boolean;
}

const PAGE_SQL: Record<EntityType, string> = {
  account: 'SELECT * FROM accounts WHERE id > $1 ORDER BY id LIMIT $2',
  contact: `SELECT c.*, a.name AS account_name, a.domain AS account_domain
            FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id
            WHERE c.id > $1 ORDER BY c.id LIMIT $2`,
};

/** A cell: null → empty, dates → ISO 8601, objects → JSON; text neutralized unless `raw`. */
function cell(v: unknown, raw: boolean): string | number | boolean | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const text = typeof v === 'object' ? JSON.stringify(v) : v;
  return typeof text === 'string' && !raw ? neutralizeFormula(text) : (text as string | number | boolean);
}

/**
 * Streams every account or contact with its current values (attributes as columns) to `out`, page by
 * page (keyset pagination on id), waiting for the stream to drain so memory stays flat. Returns the
 * number of records written.
 */
export async function exportRecords(q: Queryable, out: Writable, options: ExportOptions): Promise<number> {
  const type: EntityType = options.kind === 'accounts' ? 'account' : 'contact';
  const format = options.format ?? 'csv';
  const pageSize = options.pageSize ?? 1000;
  const { fields, header } = await exportColumns(q, type, { provenance: options.provenance });
  const write = (s: string) =>
    out.write(s) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve()));
  const raw = options.raw ?? false;
  // Attribute names come from imported headers: the header row is neutralized like any cell.
  if (format === 'csv') await write(stringify([header.map((h) => cell(h, raw))]));
  else await write('[');
  let last = 0;
  let count = 0;
  while (true) {
    const page = await q.query<Record<string, unknown> & { id: number }>(PAGE_SQL[type], [last, pageSize]);
    if (page.rows.length === 0) break;
    const ids = page.rows.map((r) => r.id);
    const provenance = options.provenance ? await readCurrentFieldValues(q, type, ids) : undefined;
    const records = page.rows.map((row) => {
      const attrs = (row.attributes ?? {}) as Record<string, unknown>;
      const rec: Record<string, unknown> = {};
      for (const col of header) rec[col] = col in row && col !== 'attributes' ? row[col] : attrs[col];
      if (provenance) {
        const p = provenance.get(row.id);
        for (const f of fields) {
          const fv = p?.get(f);
          rec[`${f}__source`] = fv?.source ?? null;
          rec[`${f}__provider`] = fv?.provider ?? null;
          rec[`${f}__cost_usd`] = fv ? fv.costUsd : null;
          rec[`${f}__observed_at`] = fv?.observedAt ?? null;
        }
      }
      return rec;
    });
    if (format === 'csv') {
      await write(stringify(records.map((r) => header.map((h) => cell(r[h], raw)))));
    } else {
      const json = records.map((r) => {
        const o: Record<string, unknown> = {};
        for (const h of header) o[h] = r[h] instanceof Date ? (r[h] as Date).toISOString() : (r[h] ?? null);
        return JSON.stringify(o);
      });
      await write(`${count === 0 ? '\n' : ',\n'}${json.join(',\n')}`);
    }
    count += page.rows.length;
    last = ids[ids.length - 1]!;
  }
  if (format === 'json') await write(count === 0 ? ']\n' : '\n]\n');
  return count;
}
