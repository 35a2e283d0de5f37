import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import { openRunEngine } from '../src/engine/engine-services.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { readCurrentFieldValues } from '../src/records/read-records.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { createApp } from '../src/server/app.ts';
import { HttpMetrics } from '../src/server/http-metrics.ts';
import type { SyncDefinition } from '../src/sync/compile-sync.ts';
import { gohighlevelSyncSource } from '../src/sync/crm-hooks.ts';
import { loadSync, SYNCS_DIR } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { defaultInboundRegistry } from '../src/webhooks/inbound/default-sources.ts';
import { startHookProcessor } from '../src/webhooks/inbound/hook-events.ts';
import { gohighlevelSource } from '../src/webhooks/inbound/signed-sources.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describeEachBackend('sync to GoHighLevel', (backend) => {
  let db: TestDb;
  let fake: GoHighLevelFake;
  let server: RunningServer;
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  let sink: RunningServer | undefined;
  const bodies: { body: string; headers: Record<string, string> }[] = [];
  afterAll(async () => {
    await server?.close();
    await sink?.close();
    await db.close();
  });
  beforeEach(async () => {
    await emptySyncDb(db);
    await server?.close();
    fake = createGoHighLevelFake({ per10s: 1000 });
    server = await serveFake(fake.app);
    bodies.length = 0;
  });
  const env = () => ({
    GHL_API_KEY: fake.apiKey,
    GHL_LOCATION_ID: fake.locationId,
    SLUICE_GOHIGHLEVEL_RATE_LIMIT: '1000/10s',
    // the hook processor connects the way `sluice serve` does: from the environment
    SLUICE_GOHIGHLEVEL_BASE_URL: server.url,
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

  it('opportunities: each contact the sync creates gets one in the routed pipeline stage; a rep moves it and the sync never moves it back', async () => {
    const { contacts: ids } = await seedGolf(db, 2, 2);
    // a contact the rep already has, with an opportunity further along: matched, and kept as it is
    const made = await call('/contacts/upsert', {
      locationId: fake.locationId,
      email: 'stacy.foster@course1.example',
    });
    const repsId = ((await made.json()) as { contact: { id: string } }).contact.id;
    const [pipeline] = fake.pipelines;
    const stage = (name: string) => pipeline!.stages.find((x) => x.name === name)!.id;
    const theirs = await call('/opportunities/upsert', {
      locationId: fake.locationId,
      pipelineId: pipeline!.id,
      contactId: repsId,
      pipelineStageId: stage('Demo Booked'),
      name: 'Stacy (rep)',
    });
    expect(theirs.status).toBe(201);

    const first = await sync();
    expect(first.counts).toMatchObject({ created: 4, permanent: 0, retryable: 0 });
    const opps = [...fake.opportunities.values()];
    expect(opps).toHaveLength(4);
    expect(new Set(opps.map((o) => o.contactId)).size).toBe(4);
    expect(opps.find((o) => o.contactId === repsId)).toMatchObject({
      pipelineStageId: stage('Demo Booked'),
      name: 'Stacy (rep)',
    });
    const made3 = opps.filter((o) => o.contactId !== repsId);
    for (const o of made3) expect(o).toMatchObject({ pipelineStageId: stage('New Lead'), status: 'open' });
    const other = fake.contacts.get(made3[0]!.contactId)!;
    expect(made3[0]!.name).toBe(`${other.firstName} ${other.lastName} | ${other.companyName}`);
    expect(made3[0]!.assignedTo).toBe(other.assignedTo);

    // the rep moves one on; a later update of that contact leaves the stage alone
    made3[0]!.pipelineStageId = stage('Contacted');
    const id = ids.find((i) => fake.custom(other, 'sluice_id') === `sluice:contact:${i}`)!;
    await setContact(id, 'title', 'Director of Golf');
    const r = await sync();
    expect(r.counts).toMatchObject({ updated: 1, created: 0 });
    expect(fake.opportunities.size).toBe(4);
    expect(made3[0]!.pipelineStageId).toBe(stage('Contacted'));
    expect(fake.stats.byRoute['POST /opportunities/upsert']).toBe(4); // 1 by the rep above, 3 by the sync
  });

  it('a routed stage the location does not have stops the sync before anything is written, naming the stages it has', async () => {
    await seedGolf(db, 1, 1);
    const text = await readFile(join(SYNCS_DIR, 'golf-courses-gohighlevel.yaml'), 'utf8');
    const file = join(tmpdir(), `golf-ghl-stage-${process.pid}.yaml`);
    await writeFile(file, text.replace('default: Golf Courses/New Lead', 'default: Golf Courses/Hot'));
    const def = await loadSync(file);
    await expect(runSync({ db, def, env: env(), baseUrl: server.url })).rejects.toThrow(
      /no pipeline stage "Golf Courses\/Hot".*Golf Courses\/New Lead, Golf Courses\/Contacted/,
    );
    expect(fake.contacts.size).toBe(0);
  });

  /** Receives the fake's signed webhooks, as `sluice serve`'s inbound route would. */
  const subscribe = async () => {
    await sink?.close();
    const app = new Hono();
    app.post('/hook', async (c) => {
      bodies.push({ body: await c.req.text(), headers: Object.fromEntries(c.req.raw.headers) });
      return c.text('ok');
    });
    sink = await listen(app, 0);
    fake.subscribe(`${sink.url}/hook`);
  };
  let nextEvent = 1;
  const source = gohighlevelSyncSource(gohighlevelSource, undefined, loadSync);
  /** Verifies each delivery with the published key, then processes it as the hook job would. */
  const receive = async (
    batch: { body: string; headers: Record<string, string> }[],
    key: string,
    load: (name: string) => Promise<SyncDefinition> = loadSync,
  ) => {
    const out: { refused?: string; result?: unknown }[] = [];
    for (const { body, headers } of batch) {
      const req = {
        method: 'POST',
        url: 'http://127.0.0.1/v1/hooks/gohighlevel',
        raw: Buffer.from(body),
        header: (n: string) => headers[n.toLowerCase()],
        token: undefined,
      };
      const refused = gohighlevelSource.verify(req, key);
      if (refused) {
        out.push({ refused });
        continue;
      }
      const parsed = JSON.parse(body) as unknown;
      const event = {
        id: nextEvent++,
        source: 'gohighlevel',
        eventId: gohighlevelSource.eventId(req, parsed),
        body: parsed,
        receivedAt: new Date(),
      };
      out.push({
        result: await gohighlevelSyncSource(gohighlevelSource, env(), load).process(event, { db }),
      });
    }
    return out;
  };
  const decisions = async () =>
    (
      await db.query<{ decision: string; n: number }>(
        'SELECT decision, count(*)::int AS n FROM sync_inbound GROUP BY decision ORDER BY decision',
      )
    ).rows.reduce<Record<string, number>>((o, r) => Object.assign(o, { [r.decision]: r.n }), {});

  it("signed webhooks: our own writes come back as echoes; a rep's phone correction becomes a crm value; a replay changes nothing", async () => {
    expect(source.id).toBe('gohighlevel');
    await subscribe();
    // the built-in plus `opportunity.stage` (never → contact.stage): the stage comes back too
    const text = await readFile(join(SYNCS_DIR, 'golf-courses-gohighlevel.yaml'), 'utf8');
    const file = join(tmpdir(), `golf-ghl-stage-field-${process.pid}.yaml`);
    await writeFile(
      file,
      text.replace(
        'fields:\n',
        'fields:\n  - to: opportunity.stage\n    rule: never\n    local: contact.stage\n',
      ),
    );
    const withStage = await loadSync(file);
    expect(withStage.fields[0]).toMatchObject({ to: 'opportunity.stage', rule: 'never' });
    const { contacts: ids } = await seedGolf(db, 1, 2);
    await sync();
    await fake.settled();
    const ours = bodies.splice(0);
    expect(ours.map((b) => (JSON.parse(b.body) as { type: string }).type)).toEqual([
      'ContactCreate',
      'ContactCreate',
    ]);
    expect(ours[0]!.headers['x-ghl-signature']).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const echoes = await receive(ours, fake.webhookPublicKey, async () => withStage);
    expect(echoes.every((e) => !e.refused)).toBe(true);
    expect((await decisions()).applied ?? 0).toBe(0);

    const stacy = [...fake.contacts.values()].find((c) => c.firstName === 'Stacy')!;
    await fake.repEdit(stacy.id, { phone: '+18045550199', 'Job Title': 'Club Manager' });
    await fake.settled();
    const rep = bodies.splice(0);
    expect(rep).toHaveLength(1);
    const payload = JSON.parse(rep[0]!.body) as Record<string, unknown>;
    // the flat shape: the contact's fields at the top level, no list of what changed
    expect(payload).toMatchObject({
      type: 'ContactUpdate',
      id: stacy.id,
      locationId: fake.locationId,
      phone: '+18045550199',
    });
    expect(typeof payload.webhookId).toBe('string');
    expect(payload).not.toHaveProperty('changes');

    // a tampered body or another key is refused before anything is stored
    const tampered = [{ ...rep[0]!, body: rep[0]!.body.replace('+18045550199', '+18045550100') }];
    expect((await receive(tampered, fake.webhookPublicKey))[0]!.refused).toMatch(
      /X-GHL-Signature does not match/,
    );
    const stranger = createGoHighLevelFake({ signingSeed: 'someone else' }).webhookPublicKey;
    expect((await receive(rep, stranger))[0]!.refused).toMatch(/does not match/);
    expect((await receive(rep, 'not a key'))[0]!.refused).toMatch(/not a public key/);

    await receive(rep, fake.webhookPublicKey, async () => withStage);
    const current = (await readCurrentFieldValues(db, 'contact', [ids[0]!])).get(ids[0]!);
    expect(current?.get('phone')).toMatchObject({
      value: '+18045550199',
      source: 'crm',
      provider: 'gohighlevel',
    });
    expect(current?.get('phone')?.observedAt.getTime()).toBe(stacy.dateUpdated);
    expect(current?.get('title')).toMatchObject({ value: 'Club Manager', source: 'crm' });

    // a rep drags Stacy's opportunity on: the stage comes back as the contact's stage (reps own it)
    const opp = [...fake.opportunities.values()].find((o) => o.contactId === stacy.id)!;
    expect(current?.get('stage')).toBeUndefined();
    fake.repMoveOpportunity(opp.id, 'Contacted');
    await fake.settled();
    const moved = bodies.splice(0);
    expect(JSON.parse(moved[0]!.body)).toMatchObject({ type: 'OpportunityStageUpdate', contactId: stacy.id });
    await receive(moved, fake.webhookPublicKey, async () => withStage);
    const stage = (await readCurrentFieldValues(db, 'contact', [ids[0]!])).get(ids[0]!)?.get('stage');
    expect(stage).toMatchObject({ value: 'Contacted', source: 'crm', provider: 'gohighlevel' });
    expect(stage?.observedAt.getTime()).toBe(opp.updatedAt);

    // the same delivery again (a retry): nothing new; the next sync sends nothing back
    const before = await decisions();
    const values = await db.query('SELECT count(*)::int AS n FROM field_values');
    await receive(rep, fake.webhookPublicKey, async () => withStage);
    expect(await decisions()).toEqual(before);
    expect((await db.query('SELECT count(*)::int AS n FROM field_values')).rows).toEqual(values.rows);
    const requests = fake.stats.requests;
    const again = await sync();
    expect(again.counts).toMatchObject({ requests: 0, unchanged: 2 });
    expect(fake.stats.requests).toBe(requests);
  });

  it('events the sync does not take back are acknowledged and left alone', async () => {
    const ev = (body: unknown) => ({
      id: 1,
      source: 'gohighlevel',
      eventId: 'x',
      body,
      receivedAt: new Date(),
    });
    const p = gohighlevelSyncSource(gohighlevelSource, env(), loadSync);
    expect(await p.process(ev({ type: 'AppointmentCreate', id: 'a1' }), { db })).toMatchObject({
      ignored: 'AppointmentCreate events are not synced back',
    });
    expect(
      await p.process(ev({ type: 'ContactUpdate', id: 'c1', locationId: 'another' }), { db }),
    ).toMatchObject({
      ignored: 'location another is not GHL_LOCATION_ID',
    });
    await expect(p.process(ev({ id: 'c1' }), { db })).rejects.toThrow(/without a type/);
  });

  it("end to end through serve's inbound route: the fake posts the signed event to /v1/hooks/gohighlevel, the job processes it into a crm value", async () => {
    expect(defaultInboundRegistry().get('gohighlevel')).toBeDefined();
    const { contacts: ids } = await seedGolf(db, 1, 1);
    await sync();
    const engine = await openRunEngine(loadConfig({}), db);
    // the registry serve starts with, its GoHighLevel processor given this test's environment
    const hooks = defaultInboundRegistry().register(
      gohighlevelSyncSource(gohighlevelSource, env(), loadSync),
    );
    const app = createApp({
      db,
      engine,
      hooks,
      env: { SLUICE_HOOK_GOHIGHLEVEL_PUBLIC_KEY: fake.webhookPublicKey },
      metrics: new HttpMetrics(),
      callbacks: {},
      workers: 0,
      startedAt: new Date(),
    });
    const hookServer = await listen(app as unknown as Hono, 0);
    const loop = startHookProcessor(db, hooks, { intervalMs: 50 });
    try {
      fake.subscribe(`${hookServer.url}/v1/hooks/gohighlevel`);
      const stacy = [...fake.contacts.values()][0]!;
      await fake.repEdit(stacy.id, { phone: '+18045550142' });
      await fake.settled();
      const stored = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM hook_events WHERE source = 'gohighlevel'`,
      );
      expect(stored.rows[0]!.n).toBe(1);
      const deadline = Date.now() + 30_000;
      let phone: { value: unknown; source: string } | undefined;
      while (Date.now() < deadline) {
        phone = (await readCurrentFieldValues(db, 'contact', [ids[0]!])).get(ids[0]!)?.get('phone');
        if (phone?.source === 'crm') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(phone).toMatchObject({ value: '+18045550142', source: 'crm' });
    } finally {
      await loop.stop();
      await hookServer.close();
      await engine.queue.stop();
      if (db.connection)
        await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.connection.schema)}" CASCADE`);
    }
  }, 60_000);
});
