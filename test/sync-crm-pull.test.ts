import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import { createHubSpotFake, type HubSpotFake } from '../src/sandbox/fakes/crm/hubspot.ts';
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

describeEachBackend('sluice crm pull: HubSpot companies', (backend) => {
  let db: Db;
  let fake: HubSpotFake;
  let server: RunningServer;
  beforeAll(async () => {
    db = await openTestDb(backend);
    fake = createHubSpotFake({ per10s: 1000, searchPerSecond: 50, searchLagMs: 0 });
    server = await serveFake(fake.app);
  });
  afterAll(async () => {
    await server?.close();
    await db.close();
  });

  it("links the CRM's existing companies first, so the sync updates them instead of upserting a duplicate", async () => {
    const { accounts } = await seedGolf(db, 1, 1);
    await db.transaction((tx) =>
      writeFieldValues(tx, [
        {
          entityType: 'account',
          entityId: accounts[0]!,
          field: 'domain',
          value: 'richmondcc.com',
          source: 'manual',
        },
      ]),
    );
    // a company a rep created in HubSpot long before Sluice: no sluice_id
    const t = Date.now() - 86_400_000;
    fake.objects.companies.set('9001', {
      id: '9001',
      properties: { name: 'Richmond CC', domain: 'richmondcc.com' },
      history: {},
      createdAt: t,
      updatedAt: t,
      indexedAt: t,
      archived: false,
      associations: new Set(),
    });
    const def = await loadSync('golf-courses-hubspot');
    const env = { HUBSPOT_ACCESS_TOKEN: fake.apiKey, SLUICE_HUBSPOT_RATE_LIMIT: '1000/10s' };
    const r = await pullCrm({ db, def, env, baseUrl: server.url });
    expect(r.parents).toMatchObject({ read: 1, created: 0, merged: 1, linked: 1, rejected: [] });
    // what the CRM holds that Sluice did not is recorded as crm, at the company's update time (values
    // both already hold are not recorded again); enrichment found later is newer evidence and stays
    const seen = await db.query<{ value: unknown; provider: string; observed_at: Date }>(
      `SELECT value, provider, observed_at FROM field_values
        WHERE entity_type = 'account' AND field = 'name' AND source = 'crm'`,
    );
    expect(seen.rows).toHaveLength(1);
    expect(seen.rows[0]).toMatchObject({ value: 'Richmond CC', provider: 'hubspot' });
    expect(seen.rows[0]!.observed_at.getTime()).toBe(t);
    const cur = await db.query<{ name: string }>('SELECT name FROM accounts');
    expect(cur.rows[0]!.name).toBe('Richmond Country Club');

    const s = await runSync({ db, def, env, baseUrl: server.url });
    expect(s.counts).toMatchObject({ permanent: 0, retryable: 0 });
    const companies = [...fake.objects.companies.values()];
    expect(companies).toHaveLength(1); // no second Richmond Country Club
    expect(companies[0]!.id).toBe('9001');
    expect(companies[0]!.properties).toMatchObject({ name: 'Richmond Country Club', segment: 'High-End' });
    expect(fake.objects.contacts.size).toBe(1);
    expect([...[...fake.objects.contacts.values()][0]!.associations]).toEqual(['9001']); // with the rep's company
    const again = await pullCrm({ db, def, env, baseUrl: server.url });
    expect(again.parents).toMatchObject({ created: 0, merged: 0, linked: 0 });
  });
});
