import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import { createHubSpotFake, type HubSpotFake } from '../src/sandbox/fakes/crm/hubspot.ts';
import type { RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import type { SyncDefinition } from '../src/sync/compile-sync.ts';
import { pullCrm } from '../src/sync/crm-pull.ts';
import { invertField } from '../src/sync/invert-mapping.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describe('reading a sync mapping back (crm pull)', () => {
  let clickup: SyncDefinition;
  beforeAll(async () => {
    clickup = await loadSync('golf-courses-clickup');
  });
  const inv = (to: string) => invertField(clickup.fields.find((f) => f.to === to)!);
  const none = () => [];
  const values = (r: ReturnType<ReturnType<typeof inv>['read']>) =>
    r && 'values' in r ? Object.fromEntries(r.values) : r;

  it('a text template: each {{ }} takes what lies between the literals; a fallback reads as no value; text it cannot produce is a mismatch', () => {
    const name = inv('name');
    expect(name).toMatchObject({
      kind: 'template',
      locals: [
        { entity: 'contact', field: 'full_name' },
        { entity: 'contact', field: 'title' },
        { entity: 'account', field: 'name' },
      ],
    });
    expect(values(name.read('Stacy Foster - General Manager | Richmond Country Club', none))).toEqual({
      'contact.full_name': 'Stacy Foster',
      'contact.title': 'General Manager',
      'account.name': 'Richmond Country Club',
    });
    // coalesce(contact.title, 'Staff'): the fallback is not a title
    expect(values(name.read('Pat Lee - Staff | Pinehurst', none))).toEqual({
      'contact.full_name': 'Pat Lee',
      'account.name': 'Pinehurst',
    });
    expect(name.read('Call Pat back', none)).toEqual({ mismatch: 'not in the form of the template' });
    expect(name.read('Ann - Lee - GM | Club', none)).toEqual({ mismatch: 'splits more than one way' });
  });

  it("a case transform takes the spelling Sluice uses (a routing key, a stored value), else the CRM's; a local field reads as it is", () => {
    const segment = inv('Segment');
    expect(segment.cased).toEqual([{ entity: 'account', field: 'segment' }]);
    expect(values(segment.read('High-End', () => ['high-end', 'budget']))).toEqual({
      'account.segment': 'high-end',
    });
    expect(values(segment.read('Premium', () => ['high-end']))).toEqual({ 'account.segment': 'Premium' });
    expect(inv('status')).toMatchObject({ kind: 'local', locals: [{ entity: 'contact', field: 'stage' }] });
    expect(values(inv('status').read('contacted', none))).toEqual({ 'contact.stage': 'contacted' });
    expect(values(inv('Email').read('a@b.example', none))).toEqual({ 'contact.email': 'a@b.example' });
  });

  it('a mapping that cannot be inverted says why', () => {
    expect(inv('Top Opp 1')).toMatchObject({
      kind: 'none',
      reason: expect.stringMatching(/^ranked\(\.\.\.\) picks/),
    });
    expect(inv('description')).toMatchObject({
      kind: 'none',
      reason: expect.stringMatching(/^numbered\(\.\.\.\)/),
    });
  });
});

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

  it('templated fields come back too (tags, title-cased segment); each field says how it was read, or why it cannot be', async () => {
    const segment = fake.fields.find((f) => f.name === 'Segment')!.id;
    const jobTitle = fake.fields.find((f) => f.name === 'Job Title')!.id;
    await upsert({
      email: 'pat.lee@pinehurst.com',
      firstName: 'Pat',
      lastName: 'Lee',
      companyName: 'Pinehurst Resort',
      website: 'pinehurst.com',
      tags: ['golf', 'budget'],
      customFields: [
        { id: segment, field_value: 'Budget' },
        { id: jobTitle, field_value: 'Head Pro' },
      ],
    });
    // a rep's own tagging, not in the form the sync writes: reported, nothing taken from it
    await upsert({ email: 'kim@augusta.com', firstName: 'Kim', tags: ['vip'] });
    const def = await loadSync('golf-courses-gohighlevel');
    const r = await pullCrm({ db, def, env: env(), baseUrl: server.url });
    expect(r).toMatchObject({ read: 2, created: 2, rejected: [] });
    const field = (to: string) => r.fields.find((f) => f.to === to)!;
    expect(field('tags')).toMatchObject({
      kind: 'template',
      locals: ['account.segment'],
      read: 1,
      mismatched: 1,
      mismatch: expect.stringMatching(/^tags of \w+: not in the form of the template$/),
    });
    expect(field('Job Title')).toMatchObject({ kind: 'plain', locals: ['contact.title'], read: 1 });
    expect(field('Top Opportunity')).toMatchObject({ kind: 'none', reason: expect.stringMatching(/ranked/) });
    expect(field('Conversation Starters')).toMatchObject({
      kind: 'none',
      reason: expect.stringMatching(/numbered/),
    });
    const pat = await db.query<{ segment: unknown; title: string }>(
      `SELECT (SELECT value #>> '{}' FROM field_values WHERE entity_type = 'account' AND entity_id = c.account_id AND field = 'segment' ORDER BY id DESC LIMIT 1) AS segment, c.title
         FROM contacts c WHERE c.email = $1`,
      ['pat.lee@pinehurst.com'],
    );
    expect(pat.rows[0]).toEqual({ segment: 'budget', title: 'Head Pro' });
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
