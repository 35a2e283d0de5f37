import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { createHubSpotFake, type HubSpotFake } from '../src/sandbox/fakes/crm/hubspot.ts';
import type { RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describeEachBackend('sync to HubSpot', (backend) => {
  let db: Db;
  let fake: HubSpotFake;
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
    fake = createHubSpotFake({ per10s: 1000, searchPerSecond: 50 });
    server = await serveFake(fake.app);
  });
  const sync = async () =>
    runSync({
      db,
      def: await loadSync('golf-courses-hubspot'),
      env: { HUBSPOT_ACCESS_TOKEN: fake.apiKey, SLUICE_HUBSPOT_RATE_LIMIT: '1000/10s' },
      baseUrl: server.url,
    });
  const contacts = () => [...fake.objects.contacts.values()].filter((o) => !o.archived);
  const companies = () => [...fake.objects.companies.values()].filter((o) => !o.archived);
  const setContact = (entityId: number, field: string, value: unknown) =>
    db.transaction((tx) =>
      writeFieldValues(tx, [{ entityType: 'contact', entityId, field, value, source: 'manual' }]),
    );

  it('the golf-courses sync: one company per course (keyed by sluice_id), contacts associated and owned; a second sync sends nothing', async () => {
    await seedGolf(db, 3, 2);
    const first = await sync();
    expect(first.counts).toMatchObject({ created: 9, permanent: 0, retryable: 0 });
    expect(companies()).toHaveLength(3);
    expect(contacts()).toHaveLength(6);
    const stacy = contacts().find((c) => c.properties.firstname === 'Stacy')!;
    expect(stacy.properties).toMatchObject({
      email: 'stacy.foster@course1.example',
      jobtitle: 'General Manager',
      segment: 'High-End',
      segment_confidence: '8',
      top_opportunity: 'range_ball_lease (9/10)',
      hubspot_owner_id: '700', // avery, the high-end rep
    });
    expect(stacy.properties.conversation_starters).toMatch(/^1\. \[9\/10\] "I noticed Richmond/);
    expect(stacy.properties.sluice_id).toMatch(/^sluice:contact:\d+$/);
    const richmond = companies().find((c) => c.properties.name === 'Richmond Country Club')!;
    expect(richmond.properties).toMatchObject({ domain: 'course1.example', segment: 'High-End' });
    expect(richmond.properties.sluice_id).toMatch(/^sluice:account:\d+$/);
    expect([...stacy.associations]).toEqual([richmond.id]);
    // every company upsert is keyed by sluice_id, never by domain
    expect(fake.stats.byRoute['POST /crm/v3/objects/companies/batch/upsert']).toBe(1);

    const before = fake.stats.requests;
    const second = await sync();
    expect(second.counts).toMatchObject({ created: 0, updated: 0, unchanged: 9, requests: 0 });
    expect(fake.stats.requests).toBe(before);
  });

  it('a contact already in HubSpot is matched by email the first time (no duplicate); an email change later updates the same contact', async () => {
    const { contacts: ids } = await seedGolf(db, 1, 2);
    const existing = await fake.app.request('/crm/v3/objects/contacts/batch/upsert', {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          {
            idProperty: 'email',
            id: 'Stacy.Foster@course1.example',
            properties: { firstname: 'Stace', hs_lead_status: 'OPEN' },
          },
        ],
      }),
    });
    expect(existing.status).toBe(200);
    const repsId = contacts()[0]!.id;
    await sync();
    expect(contacts()).toHaveLength(2);
    const stacy = fake.objects.contacts.get(repsId)!;
    expect(stacy.properties).toMatchObject({ firstname: 'Stacy', hs_lead_status: 'OPEN' });
    expect(stacy.properties.sluice_id).toBe(`sluice:contact:${ids[0]}`);

    await setContact(ids[0]!, 'email', 'stacy@richmondcc.example');
    const r = await sync();
    expect(r.counts).toMatchObject({ updated: 1, created: 0, unchanged: 2 });
    expect(contacts()).toHaveLength(2);
    expect(fake.objects.contacts.get(repsId)!.properties.email).toBe('stacy@richmondcc.example');
    expect(fake.stats.byRoute['POST /crm/v3/objects/contacts/batch/update']).toBe(1);
  });

  it('one bad row: a create is refused alone (207 per-row error), an update batch rejected whole is split until the row is isolated', async () => {
    const { contacts: ids } = await seedGolf(db, 4, 2);
    await setContact(ids[3]!, 'email', 'not-an-email');
    const first = await sync();
    expect(first.counts).toMatchObject({ created: 11, permanent: 1 });
    expect(first.errors[0]).toMatchObject({ key: `sluice:contact:${ids[3]}`, status: 'permanent' });
    expect(first.errors[0]!.error).toMatch(/not a valid email/);

    // five changed contacts in one update batch, one of them invalid: HubSpot rejects the whole batch
    for (const id of [ids[0]!, ids[1]!, ids[2]!, ids[4]!, ids[5]!])
      await setContact(id, 'title', 'Director of Golf');
    await setContact(ids[5]!, 'email', 'also bad');
    const second = await sync();
    expect(second.counts).toMatchObject({ updated: 4, permanent: 1 });
    expect(second.errors.map((e) => e.key)).toEqual([`sluice:contact:${ids[5]}`]);
    expect(contacts().filter((c) => c.properties.jobtitle === 'Director of Golf')).toHaveLength(4);
    // the never-valid row is not sent again until it changes
    const third = await sync();
    expect(third.counts).toMatchObject({ requests: 0, skipped: 2 });
  });

  it('the fake refuses what HubSpot refuses: companies upserted by domain, a write without the token', async () => {
    const post = (body: unknown, auth = `Bearer ${fake.apiKey}`) =>
      fake.app.request('/crm/v3/objects/companies/batch/upsert', {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const byDomain = await post({
      inputs: [{ idProperty: 'domain', id: 'course1.example', properties: { name: 'X' } }],
    });
    expect(byDomain.status).toBe(400);
    expect(((await byDomain.json()) as { message: string }).message).toMatch(/not a unique property/);
    expect((await post({ inputs: [] }, 'Bearer wrong')).status).toBe(401);
  });

  it('search lags behind writes (eventual consistency): a record just written is not found yet', async () => {
    await server.close();
    fake = createHubSpotFake({ per10s: 1000, searchPerSecond: 50, searchLagMs: 300 });
    server = await serveFake(fake.app);
    await seedGolf(db, 1, 1);
    await sync();
    const search = async () =>
      (
        await fake.app.request('/crm/v3/objects/contacts/search', {
          method: 'POST',
          headers: { authorization: `Bearer ${fake.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            filterGroups: [{ filters: [{ propertyName: 'firstname', operator: 'EQ', value: 'Stacy' }] }],
          }),
        })
      ).json() as Promise<{ total: number }>;
    expect((await search()).total).toBe(0);
    await new Promise((r) => setTimeout(r, 350));
    expect((await search()).total).toBe(1);
  });
});
