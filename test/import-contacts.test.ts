import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { importFile } from '../src/import/import-file.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptiedTestDb } from './helpers/empty-db.ts';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);
const tmp = (name: string, content: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-import-')), name);
  writeFileSync(path, content);
  return path;
};

const CONTACT_ERRORS = [
  { line: 7, reason: 'no email and no name' },
  { line: 12, reason: 'a quote (") opened on this line is never closed' },
];

async function contacts(db: Db) {
  const r = await db.query<
    Record<string, unknown> & { account: string | null; account_domain: string | null }
  >(
    `SELECT c.*, a.name AS account, a.domain AS account_domain
     FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id ORDER BY c.id`,
  );
  return r.rows;
}

describeEachBackend('import contacts', (backend) => {
  const db = emptiedTestDb(backend);

  it('detects a contacts file, dedupes people by email or name at the account, creates and links companies', async () => {
    const r = await importFile(db, { file: fixture('contacts-messy.csv') });
    expect(r).toMatchObject({
      kind: 'contacts',
      rowsRead: 10,
      inserted: 6,
      merged: 2,
      unchanged: 0,
      rejected: 2,
      errors: CONTACT_ERRORS,
      accounts: { inserted: 4 },
    });
    expect(r.columns).toMatchObject({
      'First Name': 'first_name',
      Email: 'email',
      'Phone Number': 'phone',
      'Person Linkedin Url': 'linkedin_url',
      Company: 'account.name',
      Website: 'account.website',
      City: 'city',
    });
    const rows = await contacts(db);
    expect(rows.map((c) => [c.full_name, c.email, c.title, c.phone, c.account, c.account_domain])).toEqual([
      [
        'Ana García',
        'ana@pebblebeach.com',
        'Head Pro',
        '+18315550101',
        'Pebble Beach Golf Links',
        'pebblebeach.com',
      ],
      ['Tom Smith', null, 'GM', '+18585550102', 'Torrey Pines Golf Course', null],
      // an invalid email loses nothing else: it is kept as email_raw
      ['Bob Jones', null, null, null, 'Augusta National', 'augusta.com'],
      ['Jane Doe', 'jane@augusta.com', 'Owner', null, 'Augusta National', 'augusta.com'],
      // no company columns: linked through the work email's domain
      ['Sam Lee', 'sam@augusta.com', 'Pro', null, 'Augusta National', 'augusta.com'],
      // a free-mail address says nothing about the company
      ['Kim Park', 'kim.park@gmail.com', null, null, 'Gmail Golfers', null],
    ]);
    expect(rows[0]).toMatchObject({
      first_name: 'Ana',
      last_name: 'García',
      linkedin_url: 'https://www.linkedin.com/in/ana-garcia',
      attributes: { city: 'Pebble Beach', state: 'CA' },
    });
    expect(rows.find((c) => c.full_name === 'Bob Jones')).toMatchObject({
      attributes: { email_raw: 'bob@@augusta.com' },
    });
    // the duplicate row's multi-line title is recorded, not made current
    const titles = await db.query<{ value: string }>(
      "SELECT value #>> '{}' AS value FROM field_values WHERE entity_type = 'contact' AND entity_id = $1 AND field = 'title' ORDER BY id",
      [rows[0]!.id],
    );
    expect(titles.rows.map((t) => t.value)).toEqual(['Head Pro', 'Director of Golf Operations']);
  });

  it('adds nothing when the same contacts file is imported again', async () => {
    await importFile(db, { file: fixture('contacts-messy.csv') });
    const count = async () =>
      (
        await db.query<{ c: number; a: number; f: number }>(
          `SELECT (SELECT count(*) FROM contacts)::int AS c, (SELECT count(*) FROM accounts)::int AS a,
                  (SELECT count(*) FROM field_values)::int AS f`,
        )
      ).rows[0];
    const before = await count();
    const again = await importFile(db, { file: fixture('contacts-messy.csv') });
    expect(again).toMatchObject({
      inserted: 0,
      merged: 0,
      unchanged: 8,
      rejected: 2,
      accounts: { inserted: 0 },
    });
    expect(await count()).toEqual(before);
  });

  it('links contacts to accounts imported before, by domain or by a unique company name', async () => {
    await importFile(db, { file: fixture('accounts-messy.csv') });
    const file = tmp(
      'people.csv',
      'Full Name,Job Title,Company Name,Email Address\n' +
        'Lee Trevino,Pro,Augusta National,lee@augusta.com\n' +
        'Dr. Mary Jones,Manager,Golfclub München,\n' +
        'García, Sergio,Player,Pebble Beach,sergio@pebblebeach.com\n',
    );
    const r = await importFile(db, { file });
    expect(r).toMatchObject({ kind: 'contacts', inserted: 2, rejected: 1 });
    expect(r.errors[0]?.line).toBe(4);
    const rows = await contacts(db);
    expect(rows.map((c) => [c.first_name, c.last_name, c.account_domain])).toEqual([
      ['Lee', 'Trevino', 'augusta.com'],
      ['Mary', 'Jones', 'golfclub-muenchen.de'],
    ]);
    const accounts = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts');
    expect(accounts.rows[0]!.n).toBe(6);
  });

  it('merges a person without email into the same person at the same company, not at another', async () => {
    const file = tmp(
      'names.csv',
      'First Name,Last Name,Company,Phone\n' +
        'José,Núñez,Alpha Golf,415-555-0100\n' +
        'Jose,Nunez,Alpha Golf Inc.,\n' +
        'José,Núñez,Beta Golf,\n',
    );
    const r = await importFile(db, { file, kind: 'contacts' });
    expect(r).toMatchObject({ inserted: 2, unchanged: 0, merged: 1 });
    const rows = await contacts(db);
    expect(rows.map((c) => [c.full_name, c.phone, c.account])).toEqual([
      ['José Núñez', '+14155550100', 'Alpha Golf'],
      ['José Núñez', null, 'Beta Golf'],
    ]);
  });
});
