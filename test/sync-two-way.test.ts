import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { readCurrentFieldValues } from '../src/records/read-records.ts';
import { type ClickUpFake, createClickUpFake } from '../src/sandbox/fakes/crm/clickup.ts';
import { createHubSpotFake, type HubSpotFake } from '../src/sandbox/fakes/crm/hubspot.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import type { SyncDefinition } from '../src/sync/compile-sync.ts';
import { clickupSyncSource, hubspotSyncSource } from '../src/sync/crm-hooks.ts';
import { decideInbound, type InboundCase } from '../src/sync/inbound-rules.ts';
import { loadSync, SYNCS_DIR } from '../src/sync/load-sync.ts';
import { pollSync, readWatermark } from '../src/sync/poll-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { listConflicts, resolveConflict } from '../src/sync/sync-conflicts.ts';
import { clickupSource, hubspotSource } from '../src/webhooks/inbound/signed-sources.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describe('the per-field rules of a CRM edit', () => {
  const base: InboundCase = {
    policy: 'newest',
    inboundOnly: false,
    theirs: '+1 804 555 0199',
    theirsChangedAt: undefined,
    lastSent: '+1 804 555 0100',
    wasSent: true,
    lastSeen: '+1 804 555 0100',
    wasSeen: true,
    ours: '+1 804 555 0100',
    oursSource: 'step',
    oursAt: new Date('2026-01-01T00:00:00Z'),
  };
  const d = (c: Partial<InboundCase>) => decideInbound({ ...base, ...c }).decision;
  it('our own write coming back is an echo; a value already known is the same', () => {
    expect(d({ theirs: '+1 804 555 0100' })).toBe('echo');
    expect(d({ theirs: 'A@X.example', lastSent: 'a@x.example' })).toBe('echo');
    expect(d({ theirs: 'old', wasSent: false, lastSeen: 'old' })).toBe('same');
    expect(d({ theirs: '8', lastSent: 8 })).toBe('echo');
  });
  it('the verifier wins on deliverability (sluice policy)', () => {
    expect(d({ policy: 'sluice' })).toBe('kept');
  });
  it('reps win on owner, stage, notes (crm policy), unless a person edited it in Sluice: then it is a conflict', () => {
    expect(d({ policy: 'crm' })).toBe('applied');
    expect(d({ policy: 'crm', oursSource: 'manual' })).toBe('conflict');
  });
  it('newest evidence: applied when Sluice did not change since; by per-field time when both did; else a conflict', () => {
    expect(d({})).toBe('applied');
    const both = { ours: '+1 804 555 0111', oursAt: new Date('2026-01-02T00:00:00Z') };
    expect(d({ ...both, theirsChangedAt: new Date('2026-01-03T00:00:00Z') })).toBe('applied');
    expect(d({ ...both, theirsChangedAt: new Date('2026-01-01T12:00:00Z') })).toBe('kept');
    expect(d(both)).toBe('conflict');
  });
  it('a manual edit in Sluice wins over newer CRM evidence', () => {
    expect(d({ oursSource: 'manual', theirsChangedAt: new Date('2030-01-01T00:00:00Z') })).toBe('kept');
  });
  it('the first value seen of a field Sluice never writes is a baseline, not an edit', () => {
    const first = {
      inboundOnly: true,
      wasSent: false,
      lastSent: undefined,
      wasSeen: false,
      lastSeen: undefined,
      ours: null,
    };
    expect(d({ ...first, policy: 'crm', theirs: 'to do' })).toBe('same');
    expect(d({ ...first, policy: 'crm', theirs: 'qualified', wasSeen: true, lastSeen: 'to do' })).toBe(
      'applied',
    );
  });
});

/** A local endpoint the fakes deliver their signed webhooks to; the test hands them to the processor. */
async function hookSink() {
  const bodies: { body: string; headers: Record<string, string> }[] = [];
  const app = new Hono();
  app.post('/hook', async (c) => {
    bodies.push({ body: await c.req.text(), headers: Object.fromEntries(c.req.raw.headers) });
    return c.text('ok');
  });
  const server = await listen(app, 0);
  return { url: `${server.url}/hook`, bodies, server };
}

describeEachBackend('two-way sync', (backend) => {
  let db: Db;
  let clickup: ClickUpFake;
  let hubspot: HubSpotFake;
  let servers: RunningServer[] = [];
  let sink: Awaited<ReturnType<typeof hookSink>>;
  let defs: Map<string, SyncDefinition>;
  let nextEvent = 1;
  const env = () => ({
    CLICKUP_API_KEY: clickup.apiKey,
    SLUICE_CLICKUP_RATE_LIMIT: '1000/min',
    SLUICE_CLICKUP_BASE_URL: servers[0]!.url,
    HUBSPOT_ACCESS_TOKEN: hubspot.apiKey,
    SLUICE_HUBSPOT_RATE_LIMIT: '1000/10s',
    SLUICE_HUBSPOT_BASE_URL: servers[1]!.url,
    HUBSPOT_APP_ID: hubspot.appId,
  });
  const load = async (name: string) => defs.get(name) ?? loadSync(name);
  beforeAll(async () => {
    db = await openTestDb(backend);
    // the golf sync with the verifier's word on email (for the sluice policy)
    const text = await readFile(join(SYNCS_DIR, 'golf-courses-clickup.yaml'), 'utf8');
    const file = join(tmpdir(), `golf-verified-${process.pid}.yaml`);
    await writeFile(
      file,
      text
        .replace('name: golf-courses-clickup', 'name: golf-verified-clickup')
        .replace(
          'value: "{{contact.email}}"\n    rule: two-way',
          'value: "{{contact.email}}"\n    rule: two-way\n    wins: sluice',
        ),
    );
    defs = new Map([['golf-verified-clickup', await loadSync(file)]]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await sink?.server.close();
    await db.close();
  });
  beforeEach(async () => {
    await emptySyncDb(db);
    await Promise.all(servers.map((s) => s.close()));
    await sink?.server.close();
    clickup = createClickUpFake({ perMinute: 1000 });
    hubspot = createHubSpotFake({ per10s: 1000, searchPerSecond: 50, searchLagMs: 0 });
    servers = [await serveFake(clickup.app), await serveFake(hubspot.app)];
    sink = await hookSink();
    hubspot.subscribe(sink.url, 'hubspot-client-secret');
    const res = await clickup.app.request(`/team/${clickup.teamId}/webhook`, {
      method: 'POST',
      headers: { authorization: clickup.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: sink.url, events: ['*'] }),
    });
    expect(res.status).toBe(200);
  });
  const sync = async (name = 'golf-courses-clickup') => runSync({ db, def: await load(name), env: env() });
  /** Hands every webhook delivered so far to the sync's processor, as `sluice serve` would. */
  const delivered: { body: string; headers: Record<string, string> }[] = [];
  const deliver = async (replay?: typeof delivered) => {
    await clickup.settled();
    await hubspot.settled();
    const out: unknown[] = [];
    const batch = replay ?? sink.bodies.splice(0);
    if (!replay) delivered.push(...batch);
    for (const { body, headers } of batch) {
      const source = headers['x-signature']
        ? clickupSyncSource(clickupSource, env(), load)
        : hubspotSyncSource(hubspotSource, env(), load);
      const parsed = JSON.parse(body);
      // the event id serve stores and dedupes on (ClickUp: the history item id; HubSpot: the event ids)
      const req = {
        method: 'POST',
        url: sink.url,
        raw: Buffer.from(body),
        header: (n: string) => headers[n],
        token: undefined,
      };
      out.push(
        await source.process(
          {
            id: nextEvent++,
            source: source.id,
            eventId: source.eventId(req, parsed),
            body: parsed,
            receivedAt: new Date(),
          },
          { db },
        ),
      );
    }
    return out;
  };
  const current = async (id: number, field: string) =>
    (await readCurrentFieldValues(db, 'contact', [id])).get(id)?.get(field);
  const decisions = async () =>
    (
      await db.query<{ decision: string; n: number }>(
        'SELECT decision, count(*)::int AS n FROM sync_inbound GROUP BY decision ORDER BY decision',
      )
    ).rows.reduce<Record<string, number>>((o, r) => Object.assign(o, { [r.decision]: r.n }), {});
  const taskOf = (contactId: number) =>
    [...clickup.tasks.values()].find((t) => [...t.custom.values()].includes(`sluice:contact:${contactId}`))!;
  const setLocal = (entityId: number, field: string, value: unknown, source: 'manual' | 'step') =>
    db.transaction((tx) =>
      writeFieldValues(tx, [
        { entityType: 'contact', entityId, field, value, source, runId: source === 'step' ? 1 : undefined },
      ]),
    );

  it('our own writes come back as echoes: nothing is recorded as a CRM edit and the next sync sends nothing (no loop)', async () => {
    await seedGolf(db, 2, 1);
    await sync();
    await deliver();
    const d = await decisions();
    expect(d.applied ?? 0).toBe(0);
    expect(d.echo ?? 0).toBeGreaterThan(0);
    const requests = clickup.stats.requests;
    const hooks = clickup.stats.webhooksSent;
    const again = await sync();
    expect(again.counts).toMatchObject({ requests: 0, unchanged: 2 });
    expect(clickup.stats.requests).toBe(requests);
    expect(clickup.stats.webhooksSent).toBe(hooks);
  });

  it("a rep's phone correction in ClickUp comes back as a crm value with the task's time; the next sync sends nothing", async () => {
    const { contacts } = await seedGolf(db, 1, 1);
    await sync();
    await deliver();
    await clickup.repEdit(taskOf(contacts[0]!).id, { Phone: '+18045550199', status: 'contacted' });
    delivered.length = 0;
    await deliver();
    const repEvents = [...delivered];
    expect(repEvents).toHaveLength(1);
    const phone = await current(contacts[0]!, 'phone');
    expect(phone).toMatchObject({ value: '+18045550199', source: 'crm', provider: 'clickup' });
    expect(phone!.observedAt.getTime()).toBe(taskOf(contacts[0]!).date_updated);
    expect(await current(contacts[0]!, 'stage')).toMatchObject({ value: 'contacted', source: 'crm' });
    // the same delivery again (ClickUp retries): nothing new
    const before = await decisions();
    const values = await db.query('SELECT count(*)::int AS n FROM field_values');
    await deliver(repEvents);
    expect(await decisions()).toEqual(before);
    expect((await db.query('SELECT count(*)::int AS n FROM field_values')).rows).toEqual(values.rows);
    const r = await sync();
    expect(r.counts).toMatchObject({ requests: 0 });
    expect(await decisions()).toEqual(before);
  });

  it("re-enrichment that finds the old phone does not undo a rep's correction; a new phone found later replaces it and is sent", async () => {
    const { contacts } = await seedGolf(db, 1, 1);
    const id = contacts[0]!;
    const old = (await current(id, 'phone'))!.value;
    await sync();
    await deliver();
    await clickup.repEdit(taskOf(id).id, { Phone: '+18045550199' });
    await deliver();
    expect(await current(id, 'phone')).toMatchObject({ value: '+18045550199', source: 'crm' });
    await setLocal(id, 'phone', old, 'step'); // the pipeline runs again: the cache still says the old number
    expect(await current(id, 'phone')).toMatchObject({ value: '+18045550199', source: 'crm' });
    expect((await sync()).counts).toMatchObject({ requests: 0 });
    await setLocal(id, 'phone', '+18045550123', 'step'); // a number enrichment never saw before: newer evidence
    expect(await current(id, 'phone')).toMatchObject({ value: '+18045550123', source: 'step' });
    const r = await sync();
    expect(r.counts).toMatchObject({ updated: 1 });
    expect([...taskOf(id).custom.values()]).toContain('+18045550123');
  });

  it('the verifier wins on email: a rep edit is kept out and our value is sent back', async () => {
    const { contacts } = await seedGolf(db, 1, 1);
    await sync('golf-verified-clickup');
    await deliver();
    const task = taskOf(contacts[0]!);
    const emailField = clickup.lists
      .find((l) => l.id === task.listId)!
      .fields.find((f) => f.name === 'Email')!;
    await clickup.repEdit(task.id, { Email: 'typo@course1.example' });
    await deliver();
    expect((await current(contacts[0]!, 'email'))!.value).toBe('stacy.foster@course1.example');
    const r = await sync('golf-verified-clickup');
    expect(r.counts.updated).toBe(1);
    expect(task.custom.get(emailField.id)).toBe('stacy.foster@course1.example');
  });

  it('a manual edit in Sluice wins over a later CRM edit', async () => {
    const { contacts } = await seedGolf(db, 1, 1);
    await sync();
    await deliver();
    await setLocal(contacts[0]!, 'phone', '+18045550123', 'manual');
    await clickup.repEdit(taskOf(contacts[0]!).id, { Phone: '+18045550999' });
    await deliver();
    expect(await current(contacts[0]!, 'phone')).toMatchObject({ value: '+18045550123', source: 'manual' });
    expect((await decisions()).kept).toBe(1);
  });

  it('changed on both sides with only a record-level time: a conflict, shown and not overwritten until resolved', async () => {
    const { contacts } = await seedGolf(db, 1, 1);
    await sync();
    await deliver();
    await setLocal(contacts[0]!, 'phone', '+18045550111', 'step'); // new enrichment, not yet sent
    await clickup.repEdit(taskOf(contacts[0]!).id, { Phone: '+18045550222' });
    await deliver();
    const [c] = await listConflicts(db);
    expect(c).toMatchObject({
      field: 'Phone',
      ours: '+18045550111',
      theirs: '+18045550222',
      entityId: contacts[0],
    });
    const r = await sync();
    expect(r.counts).toMatchObject({ requests: 0 }); // neither side's value is pushed while open
    await resolveConflict(db, await loadSync('golf-courses-clickup'), c!.id, 'crm');
    expect(await current(contacts[0]!, 'phone')).toMatchObject({ value: '+18045550222', source: 'manual' });
    expect(await listConflicts(db)).toHaveLength(0);
    expect((await sync()).counts.requests).toBe(0);
  });

  it('HubSpot: events of our own app are dropped; per-field history decides newest; a rep reassignment is kept', async () => {
    const { contacts } = await seedGolf(db, 1, 1);
    await sync('golf-courses-hubspot');
    const ours = await deliver();
    expect(ours.every((o) => Object.keys(o as object).length === 1)).toBe(true); // only {dropped}
    expect(await decisions()).toEqual({});
    const remote = [...hubspot.objects.contacts.values()][0]!;
    await setLocal(contacts[0]!, 'title', 'Head Pro', 'step');
    await new Promise((r) => setTimeout(r, 5));
    await hubspot.repEdit('contacts', remote.id, { jobtitle: 'Director of Golf', hubspot_owner_id: '702' });
    await deliver();
    expect(await current(contacts[0]!, 'title')).toMatchObject({ value: 'Director of Golf', source: 'crm' });
    expect(await current(contacts[0]!, 'owner')).toMatchObject({
      value: 'casey@sales.sandbox.test',
      source: 'crm',
    });
    const r = await sync('golf-courses-hubspot');
    expect(r.counts.requests).toBe(0);
    expect(remote.properties.hubspot_owner_id).toBe('702');
  });

  it('the poll finds what no webhook said, from a stored watermark; a second poll reads nothing new', async () => {
    const { contacts } = await seedGolf(db, 2, 1);
    await sync();
    await deliver();
    sink.bodies.length = 0;
    const t = taskOf(contacts[1]!);
    await clickup.repEdit(t.id, { Phone: '+18045550777' });
    await clickup.settled();
    sink.bodies.length = 0; // lost
    const first = await pollSync({ db, def: await loadSync('golf-courses-clickup'), env: env() });
    expect(first.applied).toBe(1);
    expect(await current(contacts[1]!, 'phone')).toMatchObject({ value: '+18045550777', source: 'crm' });
    expect((await readWatermark(db, 'golf-courses-clickup'))!.getTime()).toBe(t.date_updated);
    const second = await pollSync({ db, def: await loadSync('golf-courses-clickup'), env: env() });
    expect(second).toMatchObject({ records: 0, applied: 0 });
  });
});
