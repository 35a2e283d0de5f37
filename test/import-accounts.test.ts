import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { ConfigError } from '../src/errors.ts';
import { importFile } from '../src/import/import-file.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptiedTestDb } from './helpers/empty-db.ts';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);
const tmp = (name: string, content: string | Buffer) => {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-import-')), name);
  writeFileSync(path, content);
  return path;
};

async function counts(db: Db) {
  const r = await db.query<{ accounts: number; field_values: number }>(
    'SELECT (SELECT count(*) FROM accounts)::int AS accounts, (SELECT count(*) FROM field_values)::int AS field_values',
  );
  return r.rows[0]!;
}

async function account(db: Db, where: string, params: unknown[]) {
  const r = await db.query<Record<string, unknown>>(`SELECT * FROM accounts WHERE ${where}`, params);
  return r.rows;
}

/** Expected outcome of every line of test/fixtures/accounts-messy.csv (see the comments in the file's generator). */
const MESSY_ERRORS = [
  { line: 11, reason: 'no company name, and "n/a" is not a domain or website' },
  { line: 14, reason: '9 values but the header has 7 columns (an unquoted delimiter inside a value?)' },
];

describeEachBackend('import accounts', (backend) => {
  const db = emptiedTestDb(backend);

  it('imports the messy fixture: BOM, CRLF, quoted commas and newlines, header variants, dedupe, bad rows', async () => {
    const r = await importFile(db, { file: fixture('accounts-messy.csv') });
    expect(r).toMatchObject({
      kind: 'accounts',
      rowsRead: 12, // the blank line 6 is not a row
      inserted: 6,
      merged: 3,
      unchanged: 1,
      rejected: 2,
      errors: MESSY_ERRORS,
      encoding: 'utf-8',
      delimiter: ',',
    });
    expect(r.columns).toMatchObject({
      'Company Name': 'name',
      Website: 'website',
      'Phone Number': 'phone',
      'State/Region': 'state',
      '# Holes': 'holes',
    });
    // three spellings of pebblebeach.com are one account; the first row's values are current
    const pebble = await account(db, 'domain = $1', ['pebblebeach.com']);
    expect(pebble).toHaveLength(1);
    expect(pebble[0]).toMatchObject({
      name: 'Pebble Beach Golf Links, Inc.',
      website: 'https://www.pebblebeach.com/about',
      phone: '+18316228723',
      address: '1700 17-Mile Drive Pebble Beach, CA 93953',
      state: 'CA',
      industry: 'Golf',
      attributes: { holes: '18' },
    });
    // ...and every spelling is kept as an observed value
    const names = await db.query<{ value: string }>(
      "SELECT value #>> '{}' AS value FROM field_values WHERE entity_id = $1 AND field = 'name' ORDER BY id",
      [pebble[0]!.id],
    );
    expect(names.rows.map((x) => x.value)).toEqual([
      'Pebble Beach Golf Links, Inc.',
      'Pebble Beach Golf Links',
      'Pebble Beach',
    ]);
    // no domain: name + state decides ("LLC" and state case ignored); another state is another account
    const torrey = await account(db, "name_key = 'torrey pines golf course' ORDER BY id", []);
    expect(torrey.map((a) => [a.state, a.phone, a.address])).toEqual([
      ['CA', '+18584523226', '11480 N Torrey Pines Rd'],
      ['NY', null, null],
    ]);
    const munich = await account(db, 'domain = $1', ['golfclub-muenchen.de']);
    expect(munich[0]).toMatchObject({ name: 'Golfclub München', phone: '+4989123456' });
    const links = await account(db, 'domain = $1', ['thelinks.golf']);
    expect(links[0]).toMatchObject({ name: 'Club "The Links"', phone: '+14155550199;ext=7' });
    const imp = await db.query<Record<string, unknown>>('SELECT * FROM imports WHERE id = $1', [r.importId]);
    expect(imp.rows[0]).toMatchObject({
      status: 'done',
      rows_read: 12,
      inserted: 6,
      merged: 3,
      unchanged: 1,
      rejected: 2,
      errors: MESSY_ERRORS,
    });
  });

  it('adds nothing when the same file is imported again', async () => {
    await importFile(db, { file: fixture('accounts-messy.csv') });
    const before = await counts(db);
    const again = await importFile(db, { file: fixture('accounts-messy.csv') });
    expect(again).toMatchObject({ inserted: 0, merged: 0, unchanged: 10, rejected: 2 });
    expect(await counts(db)).toEqual(before);
  });

  it('dedupes across batches exactly as within one', async () => {
    const r = await importFile(db, { file: fixture('accounts-messy.csv'), batchSize: 2 });
    expect(r).toMatchObject({ inserted: 6, merged: 3, unchanged: 1, rejected: 2 });
    expect((await counts(db)).accounts).toBe(6);
  });

  it('never makes two accounts of one domain named differently, even when lanes race (server Postgres)', async () => {
    const names = ['Alpha', 'Bravo Club', 'Charlie Links', 'Delta Golf'];
    let csv = 'Company,Website\n';
    for (let i = 0; i < 40; i++) for (const n of names) csv += `${n} ${i},https://www.course${i}.com/\n`;
    const r = await importFile(db, { file: tmp('race.csv', csv), batchSize: 5, lanes: 4 });
    expect(r).toMatchObject({ inserted: 40, merged: 120, rejected: 0 });
    expect((await counts(db)).accounts).toBe(40);
    const names0 = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM field_values fv JOIN accounts a ON a.id = fv.entity_id WHERE a.domain = 'course0.com' AND fv.field = 'name'",
    );
    expect(names0.rows[0]!.n).toBe(4);
  });

  it('merges a later file into existing accounts: fills empty fields, keeps the first value, records the rest', async () => {
    await importFile(db, { file: fixture('accounts-messy.csv') });
    const file = tmp(
      'later.csv',
      'Domain,Segment,Phone\nhttp://www.pebblebeach.com/golf,Premium,+1 831 555 0000\nnewcourse.com,Public,\n',
    );
    const r = await importFile(db, { file });
    expect(r).toMatchObject({ inserted: 1, merged: 1, rejected: 0 });
    const [pebble] = await account(db, 'domain = $1', ['pebblebeach.com']);
    expect(pebble).toMatchObject({ segment: 'Premium', phone: '+18316228723' });
    const phones = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM field_values WHERE entity_id = $1 AND field = 'phone'",
      [pebble!.id],
    );
    expect(phones.rows[0]!.n).toBe(2);
    expect((await account(db, 'domain = $1', ['newcourse.com']))[0]).toMatchObject({ segment: 'Public' });
  });

  it('reads ";" and tab delimited files, and phone numbers in the row\'s country', async () => {
    const semi = await importFile(db, { file: fixture('accounts-semicolon.csv') });
    expect(semi).toMatchObject({ delimiter: ';', inserted: 2, rejected: 0 });
    expect((await account(db, 'domain = $1', ['valderrama.com']))[0]).toMatchObject({
      name: 'Real Club Valderrama',
      phone: '+34956791200',
      country: 'Spain',
    });
    expect((await account(db, 'domain = $1', ['gcc.es']))[0]).toMatchObject({ name: 'Golf; Country Club' });
    const tab = await importFile(db, { file: fixture('accounts-tab.tsv') });
    expect(tab).toMatchObject({ delimiter: '\t', inserted: 2, rejected: 0 });
    expect(tab.columns).toMatchObject({
      'Account Name': 'name',
      'Company Domain Name': 'domain',
      'Postal Code': 'postal_code',
      'Country/Region': 'country',
    });
    expect((await account(db, 'domain = $1', ['standrews.com']))[0]).toMatchObject({
      phone: '+441334466666',
      postal_code: 'KY16 9SF',
    });
    expect((await account(db, 'name = $1', ['Royal Portrush']))[0]).toMatchObject({ phone: '+442870822311' });
  });

  it('decodes a Windows-1252 (Latin-1) file', async () => {
    const r = await importFile(db, { file: fixture('accounts-latin1.csv') });
    expect(r).toMatchObject({ encoding: 'windows-1252', inserted: 2 });
    expect((await account(db, 'domain = $1', ['cafe-golf.fr']))[0]).toMatchObject({
      name: 'Café Golf',
      city: 'Besançon',
      attributes: { notes: '« très bien »' },
    });
    expect((await account(db, 'domain = $1', ['golf-koeln.de']))[0]).toMatchObject({ city: 'Köln' });
  });

  it('applies --map overrides, ignores mapped-away columns and keeps unknown ones as attributes', async () => {
    const file = tmp('map.csv', 'Course,Par,Secret,Lead Source\nPine Valley,70,xyz,Referral\n');
    const r = await importFile(db, { file, map: ['Course=name', 'Par=attributes.par', 'Secret='] });
    expect(r).toMatchObject({
      inserted: 1,
      columns: { Course: 'name', Par: 'par', Secret: null, 'Lead Source': 'lead_source' },
    });
    expect((await account(db, 'name = $1', ['Pine Valley']))[0]).toMatchObject({
      attributes: { par: '70', lead_source: 'Referral' },
    });
  });

  it('stores quotes, backslashes and braces exactly, and drops NUL characters', async () => {
    const file = tmp('escape.csv', 'Company,Notes\n"Back\\slash ""Club"" {1,2}",C:\\golf\\NULL\u0000x\n');
    await importFile(db, { file });
    const [row] = await account(db, 'true', []);
    expect(row).toMatchObject({ name: 'Back\\slash "Club" {1,2}', attributes: { notes: 'C:\\golf\\NULLx' } });
  });

  it('uses --region for national phone numbers', async () => {
    const file = tmp('uk.csv', 'Company,Phone\nWentworth,01344 842201\n');
    await importFile(db, { file, region: 'GB' });
    expect((await account(db, 'name = $1', ['Wentworth']))[0]).toMatchObject({ phone: '+441344842201' });
  });

  it('keeps a value that cannot be normalized as <field>_raw', async () => {
    const file = tmp('raw.csv', 'Company,Phone,Website\nOdd Club,call the pro shop,not a site\n');
    await importFile(db, { file });
    expect((await account(db, 'name = $1', ['Odd Club']))[0]).toMatchObject({
      phone: null,
      website: null,
      attributes: { phone_raw: 'call the pro shop', website_raw: 'not a site' },
    });
  });

  it('fails clearly, before writing anything, on an unreadable file or unusable columns', async () => {
    await expect(importFile(db, { file: '/nonexistent/x.csv' })).rejects.toThrow(
      'cannot read /nonexistent/x.csv: no such file',
    );
    await expect(importFile(db, { file: tmp('empty.csv', '') })).rejects.toThrow(/is empty/);
    await expect(importFile(db, { file: tmp('cols.csv', 'Foo,Bar\n1,2\n') })).rejects.toThrow(
      /no column identifies a company/,
    );
    const bad = importFile(db, { file: fixture('accounts-messy.csv'), map: ['Nope=name'] });
    await expect(bad).rejects.toBeInstanceOf(ConfigError);
    await expect(bad).rejects.toMatchObject({ exitCode: 2 });
    const imports = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM imports');
    expect(imports.rows[0]!.n).toBe(0);
  });
});
