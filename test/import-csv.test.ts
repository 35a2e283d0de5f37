import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { describe, expect, it } from 'vitest';
import { detectKind, mapHeaders, parseMapOptions, phoneSources } from '../src/import/header-map.ts';
import { type CsvRow, type CsvRowError, openCsv, sniffDelimiter } from '../src/import/read-csv.ts';
import { createRowNormalizer } from '../src/import/row-normalizer.ts';
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
    expect((rows[1] as CsvRowError).reason).toMatch(
      /^a quote \("\) on this line seems never closed: it runs to line 5 and its closing quote/,
    );
    expect((rows[4] as CsvRowError).reason).toMatch(
      /it runs to line 7 and leaves 2 values for the 3 columns; the row is skipped and reading resumes at line 7/,
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

describe('--map targets and repeated headers', () => {
  const targetsOf = (kind: 'accounts' | 'contacts', headers: string[], map: string[]) =>
    mapHeaders(kind, headers, parseMapOptions(map)).map((t) =>
      t.to === 'ignore' ? null : t.to === 'account' ? `account.${t.field}` : t.field,
    );

  it('takes fields, attributes.<name>, account.<field>, #N and ignores', () => {
    expect(
      targetsOf(
        'contacts',
        ['Who', 'Employer', 'Par', 'Tel', 'Junk'],
        [
          'Who=full_name',
          'Employer=account.name',
          'Par=account.attributes.par',
          '#4=attributes.tel_2',
          'Junk=-',
        ],
      ),
    ).toEqual(['full_name', 'account.name', 'account.par', 'tel_2', null]);
  });

  it('refuses a target that is not a field, suggesting the field or an attribute', () => {
    expect(() => targetsOf('accounts', ['Web'], ['Web=webiste'])).toThrow(
      /accounts have no field "webiste" \(did you mean "website"\?\).*--map "Web=attributes.webiste"/,
    );
    expect(() => targetsOf('contacts', ['Mail'], ['Mail=email address'])).toThrow(
      /a field is a lowercase name/,
    );
    expect(() => targetsOf('contacts', ['Mail'], ['Mail=mail'])).toThrow(/did you mean "email"/);
    expect(() => targetsOf('contacts', ['Co'], ['Co=account.company'])).toThrow(
      /did you mean "account.name"/,
    );
    expect(() => targetsOf('accounts', ['X'], ['X=attributes.phone'])).toThrow(/a field of its own/);
    expect(() => targetsOf('accounts', ['X'], ['X=account.name'])).toThrow(/only contacts files/);
    expect(() => targetsOf('accounts', ['X'], ['#2=name'])).toThrow(/no column #2/);
  });

  it('refuses repeated headers unless they are placed by position', () => {
    expect(() => targetsOf('accounts', ['Name', 'Phone', 'phone'], [])).toThrow(
      'columns 2 and 3 are named "Phone" and "phone", which read the same',
    );
    expect(() => targetsOf('accounts', ['Name', 'E-mail', 'E mail'], [])).toThrow(/columns 2 and 3/);
    expect(targetsOf('accounts', ['Name', 'Phone', 'Phone'], ['#2=phone', '#3=attributes.fax'])).toEqual([
      'name',
      'phone',
      'fax',
    ]);
    // headers without letters or digits are not repeats: they become column_<n>
    expect(targetsOf('accounts', ['Name', '', '#'], [])).toEqual(['name', 'column_2', 'column_3']);
  });

  it('shows headers with control characters escaped in messages', () => {
    expect(() => targetsOf('accounts', ['Na\u0001me', 'x'], ['Nope=name'])).toThrow(
      'Its columns are: "Na\\u0001me", "x"',
    );
  });
});

describe('phone preference', () => {
  const apollo = ['First Name', 'Email', 'Work Direct Phone', 'Mobile Phone', 'Corporate Phone', 'Company'];

  it('fills phone from the first valid column in the documented order, keeping the others', () => {
    const targets = mapHeaders('contacts', apollo, new Map());
    const sources = phoneSources('contacts', apollo, targets);
    expect(sources.own.map((i) => apollo[i])).toEqual([
      'Work Direct Phone',
      'Mobile Phone',
      'Corporate Phone',
    ]);
    const n = createRowNormalizer({
      kind: 'contacts',
      headers: apollo,
      targets,
      region: 'US',
      phoneSources: sources,
    });
    const row = (values: string[]) => {
      const r = n.normalizeContact(2, values);
      if (!r.ok) throw new Error(r.rejection.reason);
      return r.candidate;
    };
    const both = row(['Ana', 'ana@acme.com', "'+1 831-622-8723", "'+1 831-555-0101", '', 'Acme']);
    expect(both.values).toMatchObject({ phone: '+18316228723', mobile_phone: '+18315550101' });
    const mobile = row(['Bob', 'bob@acme.com', '', "'(831) 555-0102", "'+1 831-624-3811", 'Acme']);
    expect(mobile.values).toMatchObject({ phone: '+18315550102' });
    expect(mobile.account?.values).toMatchObject({ phone: '+18316243811' });
    const placeholder = row(['Cho', 'cho@acme.com', '0000000000', 'n/a', '+1 831-624-3811', 'Acme']);
    expect(placeholder.values).toMatchObject({
      phone: '+18316243811',
      phone_raw: '0000000000',
      mobile_phone_raw: 'n/a',
    });
  });

  it('uses only the mapped column when --map places phone from a column that is not a phone header', () => {
    const headers = ['Name', 'Tel (HQ)', 'Phone'];
    const targets = mapHeaders('accounts', headers, parseMapOptions(['Tel (HQ)=phone']));
    expect(phoneSources('accounts', headers, targets).own).toEqual([1]);
  });

  it('normalizes extensions, apostrophes and placeholders', () => {
    expect(normalizePhone("'+1 831-622-8723")).toBe('+18316228723');
    expect(normalizePhone('="8316228723"')).toBe('+18316228723');
    expect(normalizePhone('(831) 622-8723 x 204')).toBe('+18316228723;ext=204');
    expect(normalizePhone('+44 20 7946 0958 ext. 3', 'GB')).toBe('+442079460958;ext=3');
    for (const bad of ['0000000000', '1111111111', '5555555555', '(011) 555-0100', '+1 831 055 0100']) {
      expect(normalizePhone(bad), bad).toBeUndefined();
    }
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
