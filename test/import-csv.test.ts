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

  it('rejects a quote that is never closed at the line it opens, and reads on from the next line', async () => {
    const { rows } = await readAll(tmp('Name,Note\nA,1\nB,"open\nC,3\n\nD,x\n'));
    expect(rows).toEqual([
      { line: 2, values: ['A', '1'] },
      {
        line: 3,
        reason:
          'a quote (") opened on this line is never closed; the row is skipped and reading resumes at line 4',
      },
      { line: 4, values: ['C', '3'] },
      { line: 6, values: ['D', 'x'] },
    ]);
  });

  it('rejects a quoted value that swallows lines and closes later, and re-reads those lines', async () => {
    // the stray quote on line 3 "closes" at the opening quote on line 5: 3 values for 3 columns would
    // hide it, so the text after the closing quote gives it away; on line 6 the count does
    const file = 'Name,City,Note\nA,x,1\nB,"oops,2\nC,y,3\nD,z,"quoted, note"\nE,"bad,4\nF,w,"n\nm"\nG,v,5\n';
    const { rows } = await readAll(tmp(file));
    expect(rows.map((r) => ('values' in r ? `${r.line}:${r.values[0]}` : `${r.line}!`))).toEqual([
      '2:A',
      '3!',
      '4:C',
      '5:D',
      '6!',
      '7:F',
      '9:G',
    ]);
    expect((rows[1] as CsvRowError).reason).toMatch(/^a quoted value runs from this line to line 5/);
    expect((rows[4] as CsvRowError).reason).toMatch(
      /^a quoted value runs from this line to line 7 and leaves 2 values/,
    );
  });

  it('keeps stray quotes inside unquoted values and quoted multi-line values that fit', async () => {
    const { rows } = await readAll(tmp('Name,Note\nJoe\'s 5" putter,"a\nb"\n"Said ""hi""",c\n'));
    expect(rows).toEqual([
      { line: 2, values: ['Joe\'s 5" putter', 'a\nb'] },
      { line: 4, values: ['Said "hi"', 'c'] },
    ]);
  });

  it('rejects a record over the size limit, also a single line longer than a chunk', async () => {
    const long = 'x'.repeat(600 * 1024);
    const file = tmp(`Name,Note\nA,"${long}\nB,1\nC,${long}\nD,2\n`);
    const csv = await openCsv(file, { maxRecordBytes: 64 * 1024 });
    const rows: (CsvRow | CsvRowError)[] = [];
    for await (const r of csv.rows()) rows.push(r);
    expect(rows.map((r) => ('values' in r ? `${r.line}:${r.values[0]}` : `${r.line}!`))).toEqual([
      '2!',
      '3:B',
      '4!',
      '5:D',
    ]);
    expect((rows[0] as CsvRowError).reason).toContain('runs over 64 KB');
  });

  it('imports every other row of a 50,000-row file with one unclosed quote on line 11', async () => {
    let text = 'Company,Website,Notes\n';
    for (let i = 2; i <= 50_001; i++)
      text += i === 11 ? `Bad ${i},"bad${i}.com,x\n` : `Club ${i},club${i}.com,ok\n`;
    const { rows } = await readAll(tmp(text));
    const bad = rows.filter((r) => 'reason' in r);
    expect(bad).toEqual([{ line: 11, reason: expect.stringContaining('reading resumes at line 12') }]);
    expect(rows.length - bad.length).toBe(49_999);
    expect(rows.at(-1)).toEqual({ line: 50_001, values: ['Club 50001', 'club50001.com', 'ok'] });
  });

  it('reads UTF-16 without a byte-order mark', async () => {
    const { csv, rows } = await readAll(tmp(iconv.encode('Name,City\nÅre Golf,Åre\n', 'utf16le')));
    expect(csv.encoding()).toBe('utf-16le');
    expect(rows).toEqual([{ line: 2, values: ['Åre Golf', 'Åre'] }]);
    const be = await readAll(tmp(iconv.encode('Name,City\nA,B\n', 'utf16be')));
    expect(be.rows).toEqual([{ line: 2, values: ['A', 'B'] }]);
  });

  it('names files that are not CSV instead of reading their bytes as headers', async () => {
    const cases: [string | Buffer, RegExp][] = [
      [
        Buffer.from('PK\x03\x04\x14\x00\x06\x00[Content_Types].xml xl/workbook.xml', 'latin1'),
        /Excel workbook \(XLSX\)/,
      ],
      [Buffer.from('PK\x03\x04\x14\x00readme.txt', 'latin1'), /ZIP archive/],
      [Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3]), /gzip/],
      ['[{"name": "Pine Valley"}]', /looks like JSON/],
      ['{"accounts": []}', /looks like JSON/],
      ['<!DOCTYPE html><html><body>Sign in</body></html>', /HTML page/],
      [Buffer.from([0x00, 0x01, 0x02, 0x03, 0x9c, 0x10, 0x00, 0x07, 0x41, 0x42]), /not a text file/],
    ];
    for (const [content, message] of cases) {
      await expect(openCsv(tmp(content))).rejects.toThrow(message);
    }
    // a CSV whose first column is bracketed is still a CSV
    const { csv } = await readAll(tmp('[id],name\n1,A\n'));
    expect(csv.headers).toEqual(['[id]', 'name']);
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
