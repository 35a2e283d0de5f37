import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { describe, expect, it } from 'vitest';
import { detectKind, mapHeaders } from '../src/import/header-map.ts';
import { type CsvRow, type CsvRowError, openCsv, sniffDelimiter } from '../src/import/read-csv.ts';
import { normalizePhone } from '../src/normalize/phone.ts';

const tmp = (content: string | Buffer) => {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-csv-')), 'f.csv');
  writeFileSync(path, content);
  return path;
};

async function readAll(path: string) {
  const csv = await openCsv(path);
  const rows: (CsvRow | CsvRowError)[] = [];
  for await (const r of csv.rows()) rows.push(r);
  return { csv, rows };
}

describe('CSV reading', () => {
  it('sniffs the delimiter from the header, ignoring quoted ones', () => {
    expect(sniffDelimiter('a,b,c\n1;2;3')).toBe(',');
    expect(sniffDelimiter('"a,x";b;c\n')).toBe(';');
    expect(sniffDelimiter('a\tb\tc')).toBe('\t');
    expect(sniffDelimiter('a|b|c')).toBe('|');
    expect(sniffDelimiter('name')).toBe(',');
  });

  it('gives each row the line it starts on, across CRLF, blank lines and multi-line values', async () => {
    const { csv, rows } = await readAll(tmp('\uFEFFName,Note\r\nA,"x\r\ny"\r\n\r\nB,z\r\n'));
    expect(csv.headers).toEqual(['Name', 'Note']);
    expect(rows).toEqual([
      { line: 2, values: ['A', 'x\ny'] },
      { line: 5, values: ['B', 'z'] },
    ]);
  });

  it('reads old-Mac CR line endings', async () => {
    const { rows } = await readAll(tmp('Name,Note\rA,1\rB,2\r'));
    expect(rows).toEqual([
      { line: 2, values: ['A', '1'] },
      { line: 3, values: ['B', '2'] },
    ]);
  });

  it('decodes Windows-1252 lines inside a UTF-8 file (mixed exports)', async () => {
    const file = Buffer.concat([
      Buffer.from('Name\nZürich Golf\n', 'utf8'),
      iconv.encode('Besançon Golf\n', 'win1252'),
    ]);
    const { csv, rows } = await readAll(tmp(file));
    expect(rows.map((r) => ('values' in r ? r.values[0] : r.reason))).toEqual([
      'Zürich Golf',
      'Besançon Golf',
    ]);
    expect(csv.encoding()).toBe('mixed');
  });

  it('reads UTF-16 with a BOM (Excel "Unicode text")', async () => {
    const { csv, rows } = await readAll(tmp(iconv.encode('\uFEFFName\tCity\nÅre Golf\tÅre\n', 'utf16le')));
    expect(csv.delimiter).toBe('\t');
    expect(csv.encoding()).toBe('utf-16le');
    expect(rows).toEqual([{ line: 2, values: ['Åre Golf', 'Åre'] }]);
  });

  it('reports a quote that is never closed at the line it opens, after the rows before it', async () => {
    const { rows } = await readAll(tmp('Name,Note\nA,1\nB,"open\nC,3\n'));
    expect(rows).toEqual([
      { line: 2, values: ['A', '1'] },
      { line: 3, reason: expect.stringContaining('Quote Not Closed') },
    ]);
  });
});

describe('header mapping', () => {
  it('maps Apollo, HubSpot and Clay headers and detects the kind', () => {
    const apollo = [
      'First Name',
      'Last Name',
      'Title',
      'Company',
      'Email',
      'Work Direct Phone',
      'Mobile Phone',
      'Person Linkedin Url',
      'Company Linkedin Url',
      'Website',
      '# Employees',
    ];
    expect(detectKind(apollo)).toBe('contacts');
    const targets = mapHeaders('contacts', apollo, new Map()).map((t) =>
      t.to === 'ignore' ? null : t.to === 'account' ? `account.${t.field}` : t.field,
    );
    expect(targets).toEqual([
      'first_name',
      'last_name',
      'title',
      'account.name',
      'email',
      'phone',
      'mobile_phone', // the second phone column is kept, as an attribute
      'linkedin_url',
      'account.linkedin_url',
      'account.website',
      'employees',
    ]);
    const hubspot = [
      'Company name',
      'Company Domain Name',
      'Phone Number',
      'Street Address',
      'City',
      'State/Region',
      'Postal Code',
      'Country/Region',
    ];
    expect(detectKind(hubspot)).toBe('accounts');
    expect(
      mapHeaders('accounts', hubspot, new Map()).map((t) => (t.to === 'field' ? t.field : t.to)),
    ).toEqual(['name', 'domain', 'phone', 'address', 'city', 'state', 'postal_code', 'country']);
  });
});

describe('phone fast path', () => {
  it('formats plain North American numbers exactly as libphonenumber does', () => {
    for (const raw of [
      '(831) 622-8723',
      '831.622.8723',
      '+1 831 622 8723',
      '1-831-622-8723',
      '212 555 0100',
      '+1(415)555-0199',
    ]) {
      expect(normalizePhone(raw, 'US')).toBe(parsePhoneNumberFromString(raw, 'US')?.number);
    }
  });
});
