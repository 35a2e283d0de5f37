import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import type { RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describeEachBackend('sync to GoHighLevel', (backend) => {
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
  const sync = async () =>
    runSync({ db, def: await loadSync('golf-courses-gohighlevel'), env: env(), baseUrl: server.url });
  const setContact = (entityId: number, field: string, value: unknown) =>
    db.transaction((tx) =>
      writeFieldValues(tx, [{ entityType: 'contact', entityId, field, value, source: 'manual' }]),
    );
  const call = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fake.app.request(path, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${fake.apiKey}`,
        version: '2021-07-28',
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  it('the golf-courses sync: one contact each, custom fields by name, segment tag, owner; a second sync sends nothing', async () => {
    await seedGolf(db, 3, 2);
    const first = await sync();
    expect(first.counts).toMatchObject({ created: 6, permanent: 0, retryable: 0 });
    expect(fake.contacts.size).toBe(6);
    const stacy = [...fake.contacts.values()].find((c) => c.firstName === 'Stacy')!;
    expect(stacy).toMatchObject({
      lastName: 'Foster',
      email: 'stacy.foster@course1.example',
      companyName: 'Richmond Country Club',
      tags: ['golf', 'high-end'],
      assignedTo: 'UsR1x9KqLmN0pQ', // avery
    });
    expect(fake.custom(stacy, 'Segment')).toBe('High-End');
    expect(fake.custom(stacy, 'Segment Confidence')).toBe(8);
    expect(fake.custom(stacy, 'Job Title')).toBe('General Manager');
    expect(fake.custom(stacy, 'sluice_id')).toMatch(/^sluice:contact:\d+$/);
    expect(String(fake.custom(stacy, 'Conversation Starters'))).toMatch(/^1\. \[9\/10\]/);

    const before = fake.stats.requests;
    const second = await sync();
    expect(second.counts).toMatchObject({ created: 0, updated: 0, unchanged: 6, requests: 0 });
    expect(fake.stats.requests).toBe(before);
  });

  it('an existing contact is matched by email the first time; an email change then updates the same contact by id', async () => {
    const { contacts: ids } = await seedGolf(db, 1, 2);
    const made = await call('/contacts/upsert', {
      locationId: fake.locationId,
      email: 'stacy.foster@course1.example',
      firstName: 'Stace',
      tags: ['vip'],
    });
    expect(made.status).toBe(201);
    const repsId = [...fake.contacts.keys()][0]!;
    await sync();
    expect(fake.contacts.size).toBe(2);
    expect(fake.contacts.get(repsId)!.firstName).toBe('Stacy');

    await setContact(ids[0]!, 'email', 'stacy@richmondcc.example');
    await setContact(ids[0]!, 'title', 'Club Manager');
    const r = await sync();
    expect(r.counts).toMatchObject({ updated: 1, created: 0 });
    expect(fake.contacts.size).toBe(2);
    const stacy = fake.contacts.get(repsId)!;
    expect(stacy.email).toBe('stacy@richmondcc.example');
    expect(fake.custom(stacy, 'Job Title')).toBe('Club Manager');
    expect(fake.stats.byRoute['PUT /contacts/:id']).toBe(1);
  });

  it('a refused row (422) fails alone; a phone GoHighLevel silently dropped is reported, not taken as sent', async () => {
    const { contacts: ids } = await seedGolf(db, 2, 2);
    await setContact(ids[1]!, 'email', 'not an email');
    const first = await sync();
    expect(first.counts).toMatchObject({ created: 3, permanent: 1 });
    expect(first.errors[0]!.error).toMatch(/HTTP 422: email must be an email/);

    // ids[2] takes the phone of ids[0]: the upsert keeps its own and says nothing
    const stacy = [...fake.contacts.values()].find((c) => c.firstName === 'Stacy')!;
    await setContact(ids[2]!, 'phone', stacy.phone);
    await sync();
    const row = await db.query<{ error: string | null; sent: Record<string, unknown> }>(
      `SELECT error, sent FROM sync_records WHERE entity_id = $1`,
      [ids[2]],
    );
    expect(row.rows[0]!.error).toMatch(/kept phone .* instead of/);
  });

  it('the fake refuses what GoHighLevel refuses: no Version header, another location, a wrong token', async () => {
    expect((await call('/contacts/upsert', { locationId: fake.locationId }, { version: '' })).status).toBe(
      400,
    );
    expect((await call('/contacts/upsert', { locationId: 'other', email: 'a@b.example' })).status).toBe(403);
    expect((await call('/contacts/upsert', {}, { authorization: 'Bearer nope' })).status).toBe(401);
  });
});
