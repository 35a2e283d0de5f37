import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { ingestEmailEvent } from '../src/outreach/ingest-event.ts';
import { parseSequence } from '../src/outreach/load-sequence.ts';
import { outreachSources } from '../src/outreach/outreach-hooks.ts';
import { renderMessage } from '../src/outreach/render-message.ts';
import { runDueSequenceSteps } from '../src/outreach/run-due-steps.ts';
import { startSequenceFor } from '../src/outreach/start-sequence.ts';
import { createSendGridFake } from '../src/sandbox/fakes/email/sendgrid.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { backends, describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptyOutreachDb, mondayNY, sequenceYaml, servicesFor } from './helpers/outreach-fixtures.ts';
import { sharedDb } from './helpers/shared-db.ts';
import { seedGolf } from './helpers/sync-fixtures.ts';

const CHILD = fileURLToPath(new URL('./helpers/outreach-child.ts', import.meta.url));

describe('sequence files', () => {
  it('reports problems as file:line:col with the field', () => {
    const bad = sequenceYaml()
      .replace('daily_cap: 100 }', 'daily_cap: -1 }')
      .replace('sender: casey@', 'sender: nobody@');
    expect(() => parseSequence(bad, 'seq.yaml')).toThrow(/seq\.yaml:\d+:\d+: senders\[0\]\.daily_cap: /);
    const unknownSender = sequenceYaml().replace(
      'sender: casey@sales.sandbox.test',
      'sender: nobody@sales.sandbox.test',
    );
    expect(() => parseSequence(unknownSender, 'seq.yaml')).toThrow(
      /seq\.yaml:\d+:\d+: tracks\.default\.sender: "nobody@sales\.sandbox\.test" is not in senders/,
    );
    const badExpr = sequenceYaml().replace('present(contact.email)', 'present(contact.email');
    expect(() => parseSequence(badExpr, 'seq.yaml')).toThrow(/seq\.yaml:3:\d+: audience: /);
  });

  it('renders the best-scored starter, a fallback for a missing name, the postal address and List-Unsubscribe', () => {
    const def = parseSequence(sequenceYaml(), 'seq.yaml');
    const account = {
      id: 1,
      name: 'Richmond Country Club',
      segment: 'high-end',
      conversation_starters: [
        { text: 'low one', score: 3 },
        { text: 'I noticed the new range', score: 9 },
      ],
    };
    const m = renderMessage(def, { contact: { id: 7, email: 'x@y.test' }, account }, 0, { secret: 's' })!;
    expect(m.track).toBe('high-end');
    expect(m.subject).toBe('HE 1 for Richmond Country Club');
    expect(m.body).toMatch(/^Hi there, I noticed the new range \(Richmond Country Club\)/);
    expect(m.body).toContain('Sandbox Golf Supply, 100 E Main St, Richmond, VA 23219');
    expect(m.headers['List-Unsubscribe']).toMatch(
      /^<https:\/\/outreach\.sandbox\.test\/u\/7\.[\w-]+\.[0-9a-z]+\.[\w-]{22}>$/,
    );
    expect(m.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(m.missing).toEqual([]);
  });
});

describeEachBackend('outreach through SendGrid', (backend) => {
  let shared: Db | undefined;
  let db: Db | undefined;
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    shared = await openTestDb(backend);
  });
  afterAll(async () => {
    await shared?.close();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    if (db !== shared) await db?.close();
    db = undefined;
  });

  async function setup(o: { cap?: number } = {}) {
    db = shared!;
    await emptyOutreachDb(db);
    const seeded = await seedGolf(db, 6, 2);
    const fake = createSendGridFake();
    const server = await listen(fake.app);
    servers.push(server);
    const env = {
      SENDGRID_API_KEY: fake.apiKey,
      SLUICE_SENDGRID_BASE_URL: server.url,
      SLUICE_SENDGRID_ACTIVITY_LAG_MS: '0',
      SLUICE_HOOK_SENDGRID_PUBLIC_KEY: fake.publicKey,
    };
    const yaml = sequenceYaml({ cap: o.cap });
    const services = servicesFor(db, env, {
      'test-seq': yaml,
      other: yaml.replace('name: test-seq', 'name: other'),
    });
    return { db, fake, env, services, contacts: seeded.contacts, yaml };
  }

  it('holds the send window in the contact time zone and the per-sender daily cap', async () => {
    const { db, fake, services, contacts } = await setup({ cap: 2 });
    const start = await startSequenceFor(services, contacts, 'test-seq', mondayNY(8, 0, -3));
    expect(start.started).toBe(12);
    // Saturday noon: nothing goes out; every enrollment waits for Monday 09:00 New York
    const saturday = mondayNY(12, 0, -2);
    const sat = await runDueSequenceSteps(services, saturday);
    expect(sat).toMatchObject({ sent: 0, deferredWindow: 12 });
    expect(fake.messages).toHaveLength(0);
    const due = await db.query<{ d: Date }>('SELECT DISTINCT next_due_at AS d FROM outreach_enrollments');
    expect(due.rows.map((r) => new Date(r.d).toISOString())).toEqual([mondayNY(9).toISOString()]);
    // Monday 10:00: three senders, two each
    const mon = await runDueSequenceSteps(services, mondayNY(10));
    expect(mon.sent).toBe(6);
    expect(mon.deferredCap).toBe(6);
    const perSender = new Map<string, number>();
    for (const m of fake.messages) perSender.set(m.from, (perSender.get(m.from) ?? 0) + 1);
    expect([...perSender.values()]).toEqual([2, 2, 2]);
    // later on Monday: the caps still hold
    expect((await runDueSequenceSteps(services, mondayNY(15))).sent).toBe(0);
    // Tuesday 10:00: the six that waited
    const tue = await runDueSequenceSteps(services, mondayNY(10, 0, 1));
    expect(tue.sent).toBe(6);
    expect(new Set(fake.messages.map((m) => m.to)).size).toBe(12);
    for (const m of fake.messages) {
      expect(m.headers['List-Unsubscribe']).toMatch(/^<https:/);
      expect(m.text).toContain('100 E Main St');
    }
  });

  it('a bounce (signed Event Webhook) suppresses every later send, in every sequence', async () => {
    const { db, fake, env, services, contacts } = await setup();
    await startSequenceFor(services, contacts, 'test-seq', mondayNY(9));
    await runDueSequenceSteps(services, mondayNY(10));
    expect(fake.messages).toHaveLength(12);
    // Sluice's inbound route in miniature: the real source verifies the ECDSA signature on the raw bytes
    const source = outreachSources(env).find((s) => s.id === 'sendgrid')!;
    const receiver = new Hono();
    let refused = 0;
    receiver.post('/hook', async (c) => {
      const raw = Buffer.from(await c.req.arrayBuffer());
      const req = {
        method: 'POST',
        url: c.req.url,
        raw,
        header: (n: string) => c.req.header(n),
        token: undefined,
      };
      if (source.verify(req, env.SLUICE_HOOK_SENDGRID_PUBLIC_KEY)) {
        refused++;
        return c.text('bad signature', 401);
      }
      await source.process(
        { id: 1, source: 'sendgrid', eventId: 'x', body: JSON.parse(raw.toString()), receivedAt: new Date() },
        { db: db! },
      );
      return c.body(null, 202);
    });
    const hook = await listen(receiver);
    servers.push(hook);
    fake.configure({ eventUrl: `${hook.url}/hook` });
    const victim = fake.messages[3]!;
    // the fake's own events (processed, delivered), then a bounce for one of them
    await fake.flush();
    expect(refused).toBe(0);
    const bounce = {
      email: victim.to,
      timestamp: Math.floor(mondayNY(10, 5).getTime() / 1000),
      event: 'bounce',
      type: 'bounce',
      sg_event_id: 'bounce-1',
      sg_message_id: victim.id,
      sluice_send_id: victim.sendKey,
    };
    // a forged event (signed by someone else's key) is refused
    const forged = await fetch(`${hook.url}/hook`, {
      method: 'POST',
      body: JSON.stringify([bounce]),
      headers: {
        'X-Twilio-Email-Event-Webhook-Signature': 'MEUCIQD',
        'X-Twilio-Email-Event-Webhook-Timestamp': '1',
      },
    });
    expect(forged.status).toBe(401);
    const events = await ingestEmailEvent(services, {
      provider: 'sendgrid',
      key: 'bounce-1',
      kind: 'bounce',
      email: victim.to,
      occurredAt: mondayNY(10, 5),
      sendKey: victim.sendKey!,
      providerKind: 'bounce',
    });
    expect(events).toMatchObject({ duplicate: false, suppressed: true, stopped: 1 });
    // SendGrid repeats events: the same sg_event_id changes nothing
    expect(
      await ingestEmailEvent(services, {
        provider: 'sendgrid',
        key: 'bounce-1',
        kind: 'bounce',
        email: victim.to,
        occurredAt: new Date(),
        providerKind: 'bounce',
      }),
    ).toMatchObject({ duplicate: true });
    const sup = await db.query('SELECT email, reason FROM outreach_suppressions');
    expect(sup.rows).toEqual([{ email: victim.to, reason: 'bounce' }]);
    // step 2, three days later: 11 go out, not the bounced address
    const later = await runDueSequenceSteps(services, mondayNY(10, 0, 3));
    expect(later.sent).toBe(11);
    expect(fake.messages.filter((m) => m.to === victim.to)).toHaveLength(1);
    // and no other sequence starts for it
    const other = await startSequenceFor(services, contacts, 'other', mondayNY(11, 0, 3));
    expect(other.skipped).toMatchObject({ suppressed: 1 });
    expect(other.started).toBe(11);
    const st = await db.query<{ state: string }>('SELECT state FROM outreach_contact_state');
    expect(st.rows).toEqual([{ state: 'bounced' }]);
  });

  it('an answer lost after SendGrid accepted the message is reconciled, not resent', async () => {
    const { fake, services, contacts } = await setup();
    await startSequenceFor(services, contacts.slice(0, 4), 'test-seq', mondayNY(9));
    fake.faults.loseAnswers = 2;
    const first = await runDueSequenceSteps(services, mondayNY(10), { concurrency: 1 });
    expect(first).toMatchObject({ sent: 2, unknown: 2 });
    expect(fake.messages).toHaveLength(4);
    const again = await runDueSequenceSteps(services, mondayNY(10, 5));
    expect(again.reconciled).toMatchObject({ sent: 2, resent: 0 });
    expect(fake.messages).toHaveLength(4);
    for (const [, ms] of fake.bySendKey()) expect(ms).toHaveLength(1);
  });

  // one backend proves it (the outbox is the same SQL on both); a PGlite child costs a minute on a busy machine
  it.skipIf(backend === 'pglite' && backends.includes('postgres'))(
    'kill -9 during a send batch: after a restart nobody is emailed twice and nobody is skipped',
    async () => {
      const dir = sharedDb(backend);
      try {
        const setupDb = await dir.open();
        const seeded = await seedGolf(setupDb, 5, 2);
        const fake = createSendGridFake();
        fake.faults.holdAnswersAfter = 3;
        const server = await listen(fake.app);
        servers.push(server);
        const env = {
          SENDGRID_API_KEY: fake.apiKey,
          SLUICE_SENDGRID_BASE_URL: server.url,
          SLUICE_SENDGRID_ACTIVITY_LAG_MS: '0',
        };
        const yaml = sequenceYaml();
        const services = servicesFor(setupDb, env, { 'test-seq': yaml });
        await startSequenceFor(services, seeded.contacts, 'test-seq', mondayNY(9));
        await setupDb.close();
        const file = join(mkdtempSync(join(tmpdir(), 'sluice-seq-')), 'seq.yaml');
        writeFileSync(file, yaml);
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', CHILD, file, mondayNY(10).toISOString(), JSON.stringify(env)],
          {
            env: { ...process.env, ...dir.env },
            stdio: ['pipe', 'pipe', 'inherit'],
          },
        );
        let out = '';
        let went = false;
        const exited = new Promise((r) => child.once('exit', r));
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('ready\n') && !went) {
              went = true;
              child.stdin.write('go\n');
            }
            if ((out.match(/^sent /gm) ?? []).length >= 3) resolve();
          });
          child.once('exit', () => reject(new Error(`child exited early: ${out}`)));
        });
        // killed while a message is in flight: three confirmed, the fourth accepted but unanswered
        for (let i = 0; i < 500 && fake.messages.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
        child.kill('SIGKILL');
        await exited;
        const accepted = fake.messages.length;
        expect(accepted).toBe(4);
        expect(out.match(/^sent /gm)).toHaveLength(3);
        fake.faults.holdAnswersAfter = undefined;
        db = await dir.open();
        // the dead process's claims are past their lease after 120 s; the restart finds them by lease
        await db.query(
          `UPDATE outreach_sends SET claimed_until = now() - interval '1 second' WHERE state = 'pending'`,
        );
        await db.query(`UPDATE outreach_enrollments SET claimed_until = NULL`);
        const after = await runDueSequenceSteps(servicesFor(db, env, { 'test-seq': yaml }), mondayNY(10, 10));
        expect(after.reconciled).toMatchObject({ sent: 1, resent: 0 });
        expect(after.sent).toBe(6);
        const byKey = fake.bySendKey();
        expect(byKey.size).toBe(10);
        for (const [, ms] of byKey) expect(ms).toHaveLength(1);
        const states = await db.query<{ state: string; n: string }>(
          'SELECT state, count(*)::int AS n FROM outreach_sends GROUP BY state',
        );
        expect(states.rows).toEqual([{ state: 'sent', n: 10 }]);
      } finally {
        await db?.close();
        db = undefined;
        await dir.cleanup();
      }
    },
    90_000,
  );
});
