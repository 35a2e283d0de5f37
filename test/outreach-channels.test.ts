import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { ingestEmailEvent } from '../src/outreach/ingest-event.ts';
import { outreachSources } from '../src/outreach/outreach-hooks.ts';
import { pollEmailEvents } from '../src/outreach/poll-events.ts';
import { runDueSequenceSteps } from '../src/outreach/run-due-steps.ts';
import { startSequenceFor } from '../src/outreach/start-sequence.ts';
import type { QueueDriver } from '../src/queue/queue-driver.ts';
import { createClickUpFake } from '../src/sandbox/fakes/crm/clickup.ts';
import { startCrmFakes } from '../src/sandbox/fakes/crm/start-crm-fakes.ts';
import { createInstantlyFake, type InstantlyFake } from '../src/sandbox/fakes/email/instantly.ts';
import { createSendGridFake, type SendGridFake } from '../src/sandbox/fakes/email/sendgrid.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { getAction } from '../src/schedules/schedule-actions.ts';
import { clickupSyncSource } from '../src/sync/crm-hooks.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { parseTriggerConfig } from '../src/triggers/trigger-config.ts';
import { setTriggersEnabled, startTriggerFeeder } from '../src/triggers/trigger-feeder.ts';
import type { InboundSource } from '../src/webhooks/inbound/inbound-registry.ts';
import { clickupSource } from '../src/webhooks/inbound/signed-sources.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptyOutreachDb, mondayNY, sequenceYaml, servicesFor } from './helpers/outreach-fixtures.ts';
import { seedGolf } from './helpers/sync-fixtures.ts';

/**
 * Receives the fakes' webhooks and hands each to its real inbound source (verify on the raw bytes,
 * then process), as `sluice serve`'s /v1/hooks route and hook processor do.
 */
async function hookSink(db: () => Db, sources: InboundSource[], secrets: Record<string, string>) {
  const app = new Hono();
  const results: unknown[] = [];
  let n = 1;
  app.post('/hooks/:source/:token?', async (c) => {
    const source = sources.find((s) => s.id === c.req.param('source'))!;
    const raw = Buffer.from(await c.req.arrayBuffer());
    const req = {
      method: 'POST',
      url: c.req.url,
      raw,
      header: (h: string) => c.req.header(h),
      token: c.req.param('token'),
    };
    const refused = source.verify(req, secrets[source.secretEnv]!);
    if (refused) return c.text(refused, 401);
    const body = source.parse ? await source.parse(req) : JSON.parse(raw.toString());
    results.push(
      await source.process(
        { id: n++, source: source.id, eventId: source.eventId(req, body), body, receivedAt: new Date() },
        { db: db() },
      ),
    );
    return c.body(null, 202);
  });
  const server = await listen(app);
  return { server, results, url: (path: string) => `${server.url}/hooks/${path}` };
}

describeEachBackend('outreach across channels and the CRM', (backend) => {
  let db: Db;
  const servers: RunningServer[] = [];
  let sendgrid: SendGridFake;
  let instantly: InstantlyFake;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  afterAll(async () => {
    await db.close();
  });
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await Promise.all(cleanups.splice(0).map((f) => f()));
  });

  async function fakes(extra: Record<string, string> = {}) {
    await emptyOutreachDb(db);
    sendgrid = createSendGridFake();
    instantly = createInstantlyFake();
    const sg = await listen(sendgrid.app);
    const inst = await listen(instantly.app);
    servers.push(sg, inst);
    env = {
      SENDGRID_API_KEY: sendgrid.apiKey,
      SLUICE_SENDGRID_BASE_URL: sg.url,
      SLUICE_SENDGRID_ACTIVITY_LAG_MS: '0',
      INSTANTLY_API_KEY: instantly.apiKey,
      SLUICE_INSTANTLY_BASE_URL: inst.url,
      SLUICE_HOOK_SENDGRID_PUBLIC_KEY: sendgrid.publicKey,
      SLUICE_HOOK_SENDGRID_INBOUND_TOKEN: 'inbound-token',
      SLUICE_HOOK_INSTANTLY_TOKEN: 'instantly-token',
      ...extra,
    };
    const sequences = {
      'email-seq': sequenceYaml({
        name: 'email-seq',
        crm: 'crm' in extra,
        ...('crm' in extra ? { notify: 'https://rep.example.com/hooks/replies' } : {}),
      }),
      'inst-seq': sequenceYaml({ name: 'inst-seq', channel: 'instantly' }),
    };
    const services = servicesFor(db, env, sequences);
    const sink = await hookSink(() => db, outreachSources(env, { loadSequence: services.loadSequence }), env);
    servers.push(sink.server);
    sendgrid.configure({
      eventUrl: sink.url('sendgrid'),
      inboundUrl: sink.url('sendgrid-inbound/inbound-token'),
    });
    const sub = await instantly.app.request('/api/v2/webhooks', {
      method: 'POST',
      headers: { authorization: `Bearer ${instantly.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        target_hook_url: sink.url('instantly/instantly-token'),
        event_type: 'all_events',
      }),
    });
    expect(sub.status).toBe(200);
    return { services, sink };
  }

  it('Instantly: campaigns are drafts until activated, leads carry the rendered steps, a repeated add is skipped', async () => {
    const { services } = await fakes();
    const { contacts } = await seedGolf(db, 3, 1);
    const r = await startSequenceFor(services, contacts, 'inst-seq', mondayNY(9));
    expect(r).toMatchObject({ started: 3, leads: { added: 3, skipped: 0, pending: 0 } });
    const camps = [...instantly.campaigns.values()];
    expect(camps).toHaveLength(3);
    for (const c of camps) {
      expect(c.status).toBe(1);
      expect(c.body).toMatchObject({ stop_on_reply: true, stop_on_auto_reply: true, stop_for_company: true });
      expect(c.steps[0]).toMatchObject({
        subject: '{{sluice_subject_1}}',
        body: '{{sluice_body_1}}',
        delay: 0,
      });
    }
    const lead = instantly.leads[0]!;
    expect(lead.custom_variables.sluice_subject_1).toMatch(/^(HE|BU|DF) 1 for /);
    expect(String(lead.custom_variables.sluice_body_1)).toContain('100 E Main St');
    // a lost answer is harmless: adding the same people again skips them (no second lead)
    await services.db.query(`UPDATE outreach_enrollments SET remote_lead_id = NULL`);
    const again = await runDueSequenceSteps(services, mondayNY(9, 30));
    expect(again.instantlyLeads).toBe(0);
    expect(instantly.leads).toHaveLength(3);
    // the campaign sends inside its schedule only: nothing at 07:00, the first step at 10:00
    expect(await instantly.advance(mondayNY(7))).toHaveLength(0);
    const sent = await instantly.advance(mondayNY(10));
    expect(sent).toHaveLength(3);
    expect(sent[0]!.subject).toMatch(/^(HE|BU|DF) 1 for /);
  });

  it('a reply on one channel stops the other (Instantly → SendGrid and SendGrid → Instantly), deduplicated', async () => {
    const { services, sink } = await fakes();
    const { contacts } = await seedGolf(db, 2, 2);
    await startSequenceFor(services, contacts, 'email-seq', mondayNY(9));
    await startSequenceFor(services, contacts, 'inst-seq', mondayNY(9));
    expect((await runDueSequenceSteps(services, mondayNY(10))).sent).toBe(4);
    await instantly.advance(mondayNY(10));
    const emailOf = async (id: number) =>
      (await db.query<{ email: string }>('SELECT email FROM contacts WHERE id = $1', [id])).rows[0]!.email;
    const a = await emailOf(contacts[0]!);
    const b = await emailOf(contacts[1]!);
    // A replies in Instantly
    await instantly.reply(a, 'Yes, send me pricing for a lease.', mondayNY(11));
    // B replies to the SendGrid email (Inbound Parse); SendGrid's events arrive too (some twice)
    await sendgrid.flush();
    const inbound = new FormData();
    inbound.set('from', `B <${b}>`);
    inbound.set('to', 'avery@sales.sandbox.test');
    inbound.set('subject', 'Re: hello');
    inbound.set('text', 'Interested, call me Tuesday.\n\nOn Mon, x wrote:\n> Hi');
    inbound.set('headers', `Message-ID: <r1@${b.split('@')[1]}>\nIn-Reply-To: <x>`);
    for (let i = 0; i < 2; i++)
      expect(
        (await fetch(sink.url('sendgrid-inbound/inbound-token'), { method: 'POST', body: inbound })).status,
      ).toBe(202);
    // a forged Instantly event (no token) is refused
    expect((await fetch(sink.url('instantly'), { method: 'POST', body: '{}' })).status).toBe(401);
    const st = await db.query<{ contact_id: number; state: string }>(
      'SELECT contact_id::int, state FROM outreach_contact_state ORDER BY 1',
    );
    expect(st.rows).toEqual([
      { contact_id: contacts[0], state: 'replied' },
      { contact_id: contacts[1], state: 'replied' },
    ]);
    const en = await db.query<{ contact_id: number; sequence: string; state: string }>(
      'SELECT contact_id::int, sequence, state FROM outreach_enrollments WHERE contact_id = ANY($1::bigint[]) ORDER BY 1, 2',
      [[contacts[0], contacts[1]]],
    );
    expect(en.rows.map((r) => r.state)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
    // SendGrid step 2 three days later: only the two who did not reply
    const later = await runDueSequenceSteps(services, mondayNY(10, 0, 3));
    expect(later.sent).toBe(2);
    expect(sendgrid.messages.filter((m) => m.to === a)).toHaveLength(1);
    // Instantly stops B (blocklisted by Sluice) and A (stop_on_reply)
    expect([...instantly.blocklist].sort()).toEqual([a, b].sort());
    const instLater = await instantly.advance(mondayNY(10, 0, 3));
    expect(instLater.map((e) => e.to).sort()).toEqual(
      [await emailOf(contacts[2]!), await emailOf(contacts[3]!)].sort(),
    );
    // the replay of the same reply changed nothing; the poll finds A's reply again and dedupes it
    const polled = await pollEmailEvents(services, 'instantly', mondayNY(0));
    expect(polled).toMatchObject({ events: 1, duplicates: 1 });
    const events = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM outreach_events WHERE kind = 'reply'`,
    );
    expect(events.rows[0]!.n).toBe(2);
  });

  it('Instantly bounces and unsubscribes are polled from lead statuses too, one event with their webhooks', async () => {
    const { services, sink } = await fakes();
    const { contacts } = await seedGolf(db, 3, 1);
    await startSequenceFor(services, contacts, 'email-seq', mondayNY(9));
    await startSequenceFor(services, contacts, 'inst-seq', mondayNY(9));
    const emails = instantly.leads.map((l) => l.email);
    expect(emails).toHaveLength(3);
    const [a, b] = emails as [string, string];
    // Instantly marks A bounced and B unsubscribed; A's webhook arrives, B's is lost
    const leadA = instantly.leads.find((l) => l.email === a)!;
    const leadB = instantly.leads.find((l) => l.email === b)!;
    Object.assign(leadA, { status: -1, updated: Date.now() });
    Object.assign(leadB, { status: -2, updated: Date.now() });
    const hook = await fetch(sink.url('instantly/instantly-token'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        event_type: 'email_bounced',
        timestamp: new Date().toISOString(),
        lead_email: a,
        campaign_id: leadA.campaign,
        step: 1,
      }),
    });
    expect(hook.status).toBe(202);
    const state = async () =>
      (
        await db.query<{ email: string; state: string }>(
          `SELECT c.email, s.state FROM outreach_contact_state s JOIN contacts c ON c.id = s.contact_id ORDER BY 1`,
        )
      ).rows;
    expect(await state()).toEqual([{ email: a, state: 'bounced' }]);

    const first = await pollEmailEvents(services, 'instantly');
    // A's bounce is the webhook's event (same key); B's unsubscribe is new and stops B everywhere
    expect(first).toMatchObject({ events: 2, duplicates: 1, stops: 1 });
    expect(await state()).toEqual(
      [
        { email: a, state: 'bounced' },
        { email: b, state: 'unsubscribed' },
      ].sort((x, y) => x.email.localeCompare(y.email)),
    );
    const sup = await db.query<{ email: string; reason: string }>(
      'SELECT email, reason FROM outreach_suppressions ORDER BY email',
    );
    expect(sup.rows).toEqual(
      [
        { email: a, reason: 'bounce' },
        { email: b, reason: 'unsubscribe' },
      ].sort((x, y) => x.email.localeCompare(y.email)),
    );
    const active = await db.query<{ email: string }>(
      `SELECT DISTINCT c.email FROM outreach_enrollments e JOIN contacts c ON c.id = e.contact_id WHERE e.state = 'active'`,
    );
    expect(active.rows.map((r) => r.email)).toEqual([emails[2]]);
    // the SendGrid sequence sends to the third contact only
    expect((await runDueSequenceSteps(services, mondayNY(10))).sent).toBe(1);
    // a second poll (the built-in outreach-poll schedule's action), and B's late webhook, change nothing
    const second = await getAction('outreach-poll').run({ db, env }, {});
    expect(second).toMatchObject({ instantly: { events: 2, duplicates: 2, stops: 0 } });
    await fetch(sink.url('instantly/instantly-token'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        event_type: 'lead_unsubscribed',
        timestamp: new Date().toISOString(),
        lead_email: b,
        campaign_id: leadB.campaign,
        step: 1,
      }),
    });
    const n = await db.query<{ kind: string; n: number }>(
      `SELECT kind, count(*)::int AS n FROM outreach_events GROUP BY kind ORDER BY kind`,
    );
    expect(n.rows).toEqual([
      { kind: 'bounce', n: 1 },
      { kind: 'unsubscribe', n: 1 },
    ]);
    // the watermark is the newest lead update the poll saw (not "now", not a webhook's time)
    const mark = await db.query<{ watermark: Date }>(
      `SELECT watermark FROM outreach_poll_state WHERE provider = 'instantly'`,
    );
    expect(new Date(mark.rows[0]!.watermark).getTime()).toBe(Math.max(leadA.updated, leadB.updated));
  });

  it('a reply reaches HubSpot (a note, the lead status) and GoHighLevel (a note, a tag) through the sync', async () => {
    await fakes();
    const crm = await startCrmFakes();
    cleanups.push(() => crm.stop());
    const crmEnv = { ...env, ...crm.env };
    const { contacts } = await seedGolf(db, 3, 1);
    for (const name of ['golf-courses-hubspot', 'golf-courses-gohighlevel'])
      await runSync({ db, def: await loadSync(name), env: crmEnv });
    const services = servicesFor(db, crmEnv, {
      'hs-seq': sequenceYaml({ name: 'hs-seq', crm: 'golf-courses-hubspot' }),
      'ghl-seq': sequenceYaml({ name: 'ghl-seq', crm: 'golf-courses-gohighlevel' }),
    });
    const [c0, c1, c2] = contacts as [number, number, number];
    await startSequenceFor(services, [c0, c2], 'hs-seq', mondayNY(9));
    await startSequenceFor(services, [c1], 'ghl-seq', mondayNY(9));
    const remote = async (sync: string, id: number) =>
      (
        await db.query<{ remote_id: string }>(
          `SELECT remote_id FROM sync_records WHERE sync_name = $1 AND entity_type = 'contact' AND entity_id = $2`,
          [sync, id],
        )
      ).rows[0]!.remote_id;
    const reply = async (id: number, text: string) => {
      const email = (await db.query<{ email: string }>('SELECT email FROM contacts WHERE id = $1', [id]))
        .rows[0]!.email;
      await ingestEmailEvent(services, {
        provider: 'sendgrid',
        key: `reply-${id}`,
        kind: 'reply',
        email,
        occurredAt: new Date(),
        text,
        providerKind: 'inbound',
      });
      return (
        await db.query<{ crm_result: string }>(
          'SELECT crm_result FROM outreach_contact_state WHERE contact_id = $1',
          [id],
        )
      ).rows[0]!.crm_result;
    };
    // HubSpot's default lead statuses have no "Replied": the note goes in, the status is refused by name
    const hs0 = await remote('golf-courses-hubspot', c0);
    const r0 = await reply(c0, 'Call me next week.');
    expect(r0).toMatch(
      /^failed: hubspot: the note was added, but contacts property hs_lead_status has no option "Replied" \(options: New, Open/,
    );
    expect(crm.hubspot.notes.filter((n) => n.contacts.includes(hs0)).map((n) => n.body)).toEqual([
      expect.stringContaining('Call me next week.'),
    ]);
    expect(crm.hubspot.objects.contacts.get(hs0)!.properties.hs_lead_status ?? '').toBe('');
    // once the portal has the option, the status is set by its internal value
    crm.hubspot.leadStatusOptions.push({ label: 'Replied', value: 'REPLIED' });
    const hs2 = await remote('golf-courses-hubspot', c2);
    expect(await reply(c2, 'Pricing please.')).toBe(
      `hubspot ${hs2}: status "Replied" in hs_lead_status, comment added`,
    );
    expect(crm.hubspot.objects.contacts.get(hs2)!.properties.hs_lead_status).toBe('REPLIED');
    expect(crm.hubspot.notes.filter((n) => n.contacts.includes(hs2))).toHaveLength(1);
    // GoHighLevel: no status of its own and no stage field in this sync: a tag, and the note
    const ghl1 = await remote('golf-courses-gohighlevel', c1);
    expect(await reply(c1, 'Not now, maybe spring.')).toBe(
      `gohighlevel ${ghl1}: status "Replied", comment added`,
    );
    expect(crm.gohighlevel.contacts.get(ghl1)!.tags).toContain('replied');
    expect(crm.gohighlevel.notes.get(ghl1)?.map((n) => n.body)).toEqual([
      expect.stringContaining('Not now, maybe spring.'),
    ]);
    // a repeated reply event does not write a second note
    await ingestEmailEvent(services, {
      provider: 'sendgrid',
      key: `reply-${c1}`,
      kind: 'reply',
      email: (await db.query<{ email: string }>('SELECT email FROM contacts WHERE id = $1', [c1])).rows[0]!
        .email,
      occurredAt: new Date(),
      providerKind: 'inbound',
    });
    expect(crm.gohighlevel.notes.get(ghl1)).toHaveLength(1);
  });

  it('a ClickUp task moved to "Contacted" starts the sequence (trigger rule); a reply moves it to "Replied" with a comment', async () => {
    const clickup = createClickUpFake({ perMinute: 1000 });
    const cu = await listen(clickup.app);
    servers.push(cu);
    const crmEnv = {
      CLICKUP_API_KEY: clickup.apiKey,
      SLUICE_CLICKUP_BASE_URL: cu.url,
      SLUICE_CLICKUP_RATE_LIMIT: '1000/min',
      crm: '1',
    };
    const { services, sink } = await fakes(crmEnv);
    const { contacts } = await seedGolf(db, 3, 1);
    // ClickUp's signed webhooks go to the sync's own processor
    const cuHooks = new Hono();
    const delivered: string[] = [];
    cuHooks.post('/clickup', async (c) => {
      delivered.push(await c.req.text());
      return c.text('ok');
    });
    const cuSink = await listen(cuHooks);
    servers.push(cuSink);
    await clickup.app.request(`/team/${clickup.teamId}/webhook`, {
      method: 'POST',
      headers: { authorization: clickup.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: `${cuSink.url}/clickup`, events: ['*'] }),
    });
    const process = clickupSyncSource(clickupSource, env);
    let n = 0;
    const deliverClickUp = async () => {
      await clickup.settled();
      for (const body of delivered.splice(0))
        await process.process(
          { id: ++n, source: 'clickup', eventId: `e${n}`, body: JSON.parse(body), receivedAt: new Date() },
          { db },
        );
    };
    await runSync({ db, def: await loadSync('golf-courses-clickup'), env });
    expect(clickup.tasks.size).toBe(3);
    // the creates come back as webhooks too: the sync learns each task's status ("to do")
    await deliverClickUp();
    const rules = parseTriggerConfig(
      'rules:\n  - name: contacted\n    on: contact.stage_changed\n    where: stage = contacted\n    sequence: email-seq\n',
      'sluice.config.yaml',
    ).rules;
    await setTriggersEnabled(db, true);
    const started: number[] = [];
    const feeder = startTriggerFeeder(db, {} as QueueDriver, rules, {
      intervalMs: 50,
      startSequence: async (seq, ids) => {
        started.push(...ids);
        await startSequenceFor(services, ids, seq, mondayNY(9));
      },
    });
    try {
      const task = [...clickup.tasks.values()].find((t) =>
        [...t.custom.values()].includes(`sluice:contact:${contacts[0]}`),
      )!;
      await clickup.repEdit(task.id, { status: 'contacted' });
      await deliverClickUp();
      for (let i = 0; i < 200 && started.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    } finally {
      await feeder.stop();
      await setTriggersEnabled(db, false);
    }
    expect(started).toEqual([contacts[0]]);
    const en = await db.query<{ contact_id: number; sequence: string }>(
      'SELECT contact_id::int, sequence FROM outreach_enrollments',
    );
    expect(en.rows).toEqual([{ contact_id: contacts[0], sequence: 'email-seq' }]);
    expect((await runDueSequenceSteps(services, mondayNY(10))).sent).toBe(1);
    const to = sendgrid.messages[0]!.to;
    // the reply comes back through Inbound Parse: the task moves to "Replied" with the reply as a comment
    const form = new FormData();
    form.set('from', to);
    form.set('to', sendgrid.messages[0]!.from);
    form.set('subject', `Re: ${sendgrid.messages[0]!.subject}`);
    form.set('text', 'Send me a quote for 500 dozen.');
    form.set('headers', 'Message-ID: <q1@x>');
    expect(
      (await fetch(sink.url('sendgrid-inbound/inbound-token'), { method: 'POST', body: form })).status,
    ).toBe(202);
    const task = [...clickup.tasks.values()].find((t) =>
      [...t.custom.values()].includes(`sluice:contact:${contacts[0]}`),
    )!;
    expect(task.status).toBe('Replied');
    expect(task.comments?.map((c) => c.comment_text)).toEqual([
      expect.stringContaining('Send me a quote for 500 dozen.'),
    ]);
    const st = await db.query<{ crm_result: string }>('SELECT crm_result FROM outreach_contact_state');
    expect(st.rows[0]!.crm_result).toMatch(/^clickup \w+: status "Replied" in status, comment added$/);
    // the rep is told by a signed webhook, through the webhooks outbox (retried, safe outbound edge)
    const d = await db.query<{ event_type: string; payload: string }>(
      'SELECT event_type, payload FROM webhook_deliveries',
    );
    expect(d.rows.map((r) => [r.event_type, JSON.parse(r.payload)])).toEqual([
      [
        'outreach.replied',
        expect.objectContaining({ reply: 'Send me a quote for 500 dozen.', rep: sendgrid.messages[0]!.from }),
      ],
    ]);
  });
});
