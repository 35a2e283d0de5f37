import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import type { RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { pullCrm } from '../src/sync/crm-pull.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describeEachBackend('sluice crm pull', (backend) => {
  let db: Db;
  let fake: GoHighLevelFake;
  let server: RunningServer;
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  afterAll(async () => {
    await server?.close();
    await db.close();
  });
  beforeEach(async () => {
    await emptySyncDb(db);
    await server?.close();
    fake = createGoHighLevelFake({ per10s: 1000 });
    server = await serveFake(fake.app);
  });
  const env = () => ({
    GHL_API_KEY: fake.apiKey,
    GHL_LOCATION_ID: fake.locationId,
    SLUICE_GOHIGHLEVEL_RATE_LIMIT: '1000/10s',
  });
  const upsert = (body: Record<string, unknown>) =>
    fake.app.request('/contacts/upsert', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${fake.apiKey}`,
        version: '2021-07-28',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ locationId: fake.locationId, ...body }),
    });

  it("imports the CRM's contacts deduplicated like an import, links them, and the next sync updates instead of duplicating", async () => {
    // Stacy Foster of Richmond Country Club, already in Sluice (the importer wants real domains)
    const { contacts } = await seedGolf(db, 1, 1);
    await db.transaction((tx) =>
      writeFieldValues(tx, [
        {
          entityType: 'contact',
          entityId: contacts[0]!,
          field: 'email',
          value: 'stacy.foster@richmondcc.com',
          source: 'manual',
        },
      ]),
    );
    await upsert({
      email: 'Stacy.Foster@richmondcc.com',
      firstName: 'Stacy',
      lastName: 'Foster',
      phone: '+18045550100',
    });
    await upsert({
      email: 'pat.lee@pinehurst.com',
      firstName: 'Pat',
      lastName: 'Lee',
      phone: '+19105550100',
      companyName: 'Pinehurst Resort',
      website: 'pinehurst.com',
    });
    const def = await loadSync('golf-courses-gohighlevel');
    const r = await pullCrm({ db, def, env: env(), baseUrl: server.url });
    expect(r).toMatchObject({ read: 2, created: 1, merged: 1, linked: 2, rejected: [] });
    const people = await db.query<{ id: string; email: string; account_id: string | null }>(
      'SELECT id, email, account_id FROM contacts ORDER BY id',
    );
    expect(people.rows.map((p) => p.email)).toEqual(['stacy.foster@richmondcc.com', 'pat.lee@pinehurst.com']);
    const pat = await db.query<{ name: string; domain: string }>(
      'SELECT a.name, a.domain FROM accounts a JOIN contacts c ON c.account_id = a.id WHERE c.email = $1',
      ['pat.lee@pinehurst.com'],
    );
    expect(pat.rows[0]).toEqual({ name: 'Pinehurst Resort', domain: 'pinehurst.com' });
    // the values say they came from the CRM, at the CRM record's update time
    const ghl = (email: string) => [...fake.contacts.values()].find((c) => c.email === email)!;
    const prov = await db.query<{
      entity_type: string;
      field: string;
      value: unknown;
      source: string;
      provider: string;
      operation: string;
      observed_at: Date;
    }>(
      `SELECT fv.entity_type, fv.field, fv.value, fv.source, fv.provider, fv.operation, fv.observed_at FROM field_values fv
        WHERE fv.source = 'crm' ORDER BY fv.entity_type, fv.field, fv.id`,
    );
    const patPhone = prov.rows.find((r) => r.field === 'phone' && r.value === '+19105550100')!;
    expect(patPhone).toMatchObject({
      source: 'crm',
      provider: 'gohighlevel',
      operation: 'crm pull golf-courses-gohighlevel',
    });
    expect(patPhone.observed_at.getTime()).toBe(ghl('pat.lee@pinehurst.com').dateUpdated);
    expect(prov.rows.find((r) => r.entity_type === 'account' && r.field === 'name')).toMatchObject({
      value: 'Pinehurst Resort',
      provider: 'gohighlevel',
    });
    // Stacy's phone in the CRM changed after Sluice enriched it: the newer evidence is current
    const stacyPhone = await db.query<{ phone: string }>('SELECT phone FROM contacts WHERE id = $1', [
      contacts[0]!,
    ]);
    expect(stacyPhone.rows[0]!.phone).toBe('+18045550100');

    // the sync now updates the pulled Stacy (linked) instead of upserting a second one
    const sync = await runSync({ db, def, env: env(), baseUrl: server.url });
    expect(sync.counts.created).toBe(0);
    expect(fake.contacts.size).toBe(2);
    expect(fake.stats.byRoute['POST /contacts/upsert']).toBe(2); // only the two made above

    const again = await pullCrm({ db, def, env: env(), baseUrl: server.url });
    expect(again).toMatchObject({ created: 0, merged: 0, linked: 0, skipped: 2 });
  });
});
