import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { type ExportOptions, exportRecords } from '../src/export/export-records.ts';
import { importFile } from '../src/import/import-file.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptiedTestDb } from './helpers/empty-db.ts';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

/** Runs an export into memory; pageSize 2 so paging is exercised on the small fixtures. */
async function run(db: Db, options: ExportOptions): Promise<{ text: string; count: number }> {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, done) {
      text += chunk;
      done();
    },
  });
  const count = await exportRecords(db, out, { pageSize: 2, ...options });
  return { text, count };
}

describeEachBackend('export', (backend) => {
  const db = emptiedTestDb(backend);

  it('writes every account as CSV with current values and attributes as columns', async () => {
    await importFile(db, { file: fixture('accounts-messy.csv') });
    await importFile(db, { file: fixture('accounts-latin1.csv') });
    const { text, count } = await run(db, { kind: 'accounts' });
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(count).toBe(8);
    expect(rows).toHaveLength(8);
    expect(Object.keys(rows[0]!)).toEqual([
      'id',
      'name',
      'domain',
      'website',
      'phone',
      'address',
      'city',
      'state',
      'postal_code',
      'country',
      'industry',
      'segment',
      'linkedin_url',
      'status',
      'holes',
      'notes',
      'created_at',
      'updated_at',
    ]);
    expect(rows[0]).toMatchObject({
      name: 'Pebble Beach Golf Links, Inc.',
      domain: 'pebblebeach.com',
      phone: '+18316228723',
      holes: '18',
      notes: '',
      status: 'new',
    });
    expect(rows.find((r) => r.domain === 'cafe-golf.fr')).toMatchObject({
      name: 'Café Golf',
      notes: '« très bien »',
    });
    expect(new Date(rows[0]!.created_at!).getTime()).not.toBeNaN();
  });

  it('adds provenance columns from the current field value', async () => {
    await importFile(db, { file: fixture('accounts-messy.csv') });
    const id = (await db.query<{ id: number }>("SELECT id FROM accounts WHERE domain = 'augusta.com'"))
      .rows[0]!.id;
    await writeFieldValues(db, [
      {
        entityType: 'account',
        entityId: id,
        field: 'phone',
        value: '+17060000000',
        source: 'provider',
        provider: 'apollo',
        operation: 'organization_enrich',
        costUsd: 0.02,
        confidence: 0.9,
        observedAt: '2026-01-02T03:04:05.000Z',
      },
    ]);
    const { text } = await run(db, { kind: 'accounts', provenance: true });
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    const augusta = rows.find((r) => r.domain === 'augusta.com')!;
    expect(augusta).toMatchObject({
      phone: '+17060000000',
      phone__source: 'provider',
      phone__provider: 'apollo',
      phone__cost_usd: '0.02',
      phone__observed_at: '2026-01-02T03:04:05.000Z',
      name__source: 'import',
      name__cost_usd: '0',
      segment: '',
      segment__source: '',
    });
    const header = text.split('\n')[0]!.split(',');
    expect(header.slice(1, 6)).toEqual([
      'name',
      'name__source',
      'name__provider',
      'name__cost_usd',
      'name__observed_at',
    ]);
  });

  it('writes contacts as JSON with their account', async () => {
    await importFile(db, { file: fixture('contacts-messy.csv') });
    const { text, count } = await run(db, { kind: 'contacts', format: 'json' });
    const rows = JSON.parse(text) as Record<string, unknown>[];
    expect(count).toBe(6);
    expect(rows.map((r) => [r.email, r.account_name, r.account_domain])).toEqual([
      ['ana@pebblebeach.com', 'Pebble Beach Golf Links', 'pebblebeach.com'],
      [null, 'Torrey Pines Golf Course', null],
      [null, 'Augusta National', 'augusta.com'], // Bob Jones: his invalid email is kept as email_raw
      ['jane@augusta.com', 'Augusta National', 'augusta.com'],
      ['sam@augusta.com', 'Augusta National', 'augusta.com'],
      ['kim.park@gmail.com', 'Gmail Golfers', null],
    ]);
    expect(rows[0]).toMatchObject({ first_name: 'Ana', city: 'Pebble Beach', status: 'active' });
  });

  it('writes an empty JSON array and a header-only CSV when there is nothing', async () => {
    expect(JSON.parse((await run(db, { kind: 'contacts', format: 'json' })).text)).toEqual([]);
    const csv = await run(db, { kind: 'accounts' });
    expect(csv.count).toBe(0);
    expect(csv.text.trim().split('\n')).toHaveLength(1);
  });
});
