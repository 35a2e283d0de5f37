import { afterAll, beforeAll, expect, it } from 'vitest';
import { addRule, listRules } from '../src/alerts/alert-rules.ts';
import { checkAlerts } from '../src/alerts/check-alerts.ts';
import { sendAlertEmails } from '../src/alerts/send-alert-emails.ts';
import type { Db } from '../src/db/db.ts';
import { createSendGridFake } from '../src/sandbox/fakes/email/sendgrid.ts';
import { listen } from '../src/sandbox/fakes/fake-kit.ts';
import { BUILTIN_SCHEDULES } from '../src/schedules/builtin-schedules.ts';
import { getAction, parseArgs } from '../src/schedules/schedule-actions.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

const SLACK = 'https://hooks.slack.com/services/T000/B000/secret';

describeEachBackend('alerts on timing signals', (backend) => {
  let db: Db;
  let golfContact: number;
  let saasContact: number;
  beforeAll(async () => {
    db = await openTestDb(backend);
    const a = await db.query<{ id: number }>(
      `INSERT INTO accounts (name, domain, industry) VALUES ('Pine Valley', 'pv.test', 'Golf'), ('Acme', 'acme.test', 'saas')
       RETURNING id`,
    );
    const c = await db.query<{ id: number }>(
      `INSERT INTO contacts (account_id, first_name, last_name, title, email)
       VALUES ($1, 'Ann', 'Green', 'GM', 'ann@pv.test'), ($2, 'Bob', 'Stone', 'CTO', 'bob@acme.test') RETURNING id`,
      [a.rows[0]!.id, a.rows[1]!.id],
    );
    golfContact = c.rows[0]!.id;
    saasContact = c.rows[1]!.id;
    // history from before the rules: never alerted
    await db.query(
      `INSERT INTO outreach_events (provider, event_key, kind, email, contact_id, occurred_at)
       VALUES ('sendgrid', 'old', 'reply', 'bob@acme.test', $1, now() - interval '1 day')`,
      [saasContact],
    );
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });

  it('refuses an unknown signal and a URL the outbound edge would refuse', async () => {
    await expect(addRule(db, { name: 'x', signal: 'birthday', slackUrl: SLACK })).rejects.toThrow(
      /unknown signal/,
    );
    await expect(
      addRule(db, { name: 'x', signal: 'reply', slackUrl: 'http://10.0.0.1/hook' }),
    ).rejects.toThrow(/--slack/);
  });

  it('queues one Slack message per matching signal through the webhook outbox, once', async () => {
    await addRule(db, {
      name: 'golf-moves',
      signal: 'job_change',
      slackUrl: SLACK,
      match: { industry: 'golf' },
    });
    await addRule(db, { name: 'replies', signal: 'reply', slackUrl: SLACK });
    await addRule(db, {
      name: 'saas-visits',
      signal: 'visitor',
      slackUrl: SLACK,
      match: { industry: 'SaaS' },
    });
    expect((await listRules(db)).map((r) => [r.name, r.signal])).toEqual([
      ['golf-moves', 'job_change'],
      ['replies', 'reply'],
      ['saas-visits', 'visitor'],
    ]);
    const pass = await db.query<{ id: number }>(
      "INSERT INTO freshness_passes (state, days) VALUES ('done', 90) RETURNING id",
    );
    await db.query(
      `INSERT INTO freshness_checks (pass_id, contact_id, outcome, checked_at) VALUES
         ($1, $2, 'changed', now() + interval '1 second'), ($1, $3, 'changed', now() + interval '1 second')`,
      [pass.rows[0]!.id, golfContact, saasContact],
    );
    await db.query(
      `INSERT INTO outreach_events (provider, event_key, kind, email, contact_id, occurred_at) VALUES
         ('sendgrid', 'r1', 'reply', 'bob@acme.test', $1, now()), ('sendgrid', 'o1', 'open', 'ann@pv.test', $2, now())`,
      [saasContact, golfContact],
    );
    await db.query(
      `INSERT INTO hook_events (source, event_id, body, state, result) VALUES
         ('rb2b', 'v1', '{}', 'processed', $1), ('rb2b', 'v2', '{}', 'failed', NULL)`,
      [JSON.stringify({ contact: { index: 0, id: saasContact, outcome: 'merged' } })],
    );
    const first = await checkAlerts(db);
    expect(first).toEqual([
      { rule: 'golf-moves', signals: 2, notified: 1 }, // the saas contact's change does not match
      { rule: 'replies', signals: 1, notified: 1 }, // the old reply and the open are not signals
      { rule: 'saas-visits', signals: 1, notified: 1 }, // the failed hook event is not
    ]);
    const sent = await db.query<{ event_type: string; payload: string; url: string }>(
      `SELECT d.event_type, d.payload, e.url FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        ORDER BY d.id`,
    );
    expect(sent.rows.map((r) => [r.event_type, r.url])).toEqual([
      ['alert.job_change', SLACK],
      ['alert.reply', SLACK],
      ['alert.visitor', SLACK],
    ]);
    const texts = sent.rows.map((r) => (JSON.parse(r.payload) as { text: string }).text);
    expect(texts[0]).toContain('Ann Green (GM) at Pine Valley changed jobs');
    expect(texts[1]).toContain('Bob Stone (CTO) at Acme replied to outreach');
    expect(texts[2]).toContain('Bob Stone (CTO) at Acme visited the website (RB2B)');
    expect(Object.keys(JSON.parse(sent.rows[0]!.payload) as object)).toEqual(['text']); // Slack's shape
    // a second pass finds nothing new and sends nothing again
    expect(await checkAlerts(db)).toEqual([
      { rule: 'golf-moves', signals: 0, notified: 0 },
      { rule: 'replies', signals: 0, notified: 0 },
      { rule: 'saas-visits', signals: 0, notified: 0 },
    ]);
    expect(
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries')).rows[0]?.n,
    ).toBe(3);
  });

  it('emails an alert through SendGrid once: a lost answer is looked up, a refusal is final, a missing key is raised', async () => {
    const fake = createSendGridFake();
    const server = await listen(fake.app);
    const env = {
      SENDGRID_API_KEY: fake.apiKey,
      SLUICE_SENDGRID_BASE_URL: server.url,
      SLUICE_SENDGRID_ACTIVITY_LAG_MS: '0',
    };
    try {
      await expect(
        addRule(db, { name: 'x', signal: 'reply', email: { to: 'ops', from: 'alerts@agency.test' } }),
      ).rejects.toThrow(/--email "ops" is not an email address/);
      await expect(
        addRule(db, {
          name: 'x',
          signal: 'reply',
          email: { to: 'ops@agency.test', from: 'alerts@agency.test', provider: 'instantly' },
        }),
      ).rejects.toThrow(/sends campaigns.*use one of sendgrid/);
      await expect(
        addRule(db, {
          name: 'x',
          signal: 'reply',
          slackUrl: SLACK,
          email: { to: 'ops@agency.test', from: 'alerts@agency.test' },
        }),
      ).rejects.toThrow(/one channel/);
      await addRule(db, {
        name: 'replies-by-email',
        signal: 'reply',
        email: { to: 'Ops@Agency.test', from: 'alerts@agency.test' },
        match: { industry: 'saas' },
      });
      expect((await listRules(db)).find((r) => r.name === 'replies-by-email')).toMatchObject({
        channel: 'email',
        emailTo: 'ops@agency.test',
        emailProvider: 'sendgrid',
        endpointId: null,
      });
      const reply = (key: string) =>
        db.query(
          `INSERT INTO outreach_events (provider, event_key, kind, email, contact_id, occurred_at)
           VALUES ('sendgrid', $1, 'reply', 'bob@acme.test', $2, now())`,
          [key, saasContact],
        );
      const deliveries = async () =>
        (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries')).rows[0]!.n;
      const before = await deliveries();
      await reply('r-email-1');
      const pass = await checkAlerts(db, { rule: 'replies-by-email' });
      expect(pass).toEqual([{ rule: 'replies-by-email', signals: 1, notified: 1 }]);
      expect(await deliveries()).toBe(before); // not a webhook
      // the answer is lost after SendGrid accepted it: unconfirmed, then found by its send key, never resent
      fake.faults.loseAnswers = 1;
      expect(await sendAlertEmails(db, { env })).toEqual({ sent: 0, failed: 0, unconfirmed: 1, pending: 0 });
      expect(fake.messages).toHaveLength(1);
      expect(await sendAlertEmails(db, { env })).toEqual({ sent: 1, failed: 0, unconfirmed: 0, pending: 0 });
      expect(await sendAlertEmails(db, { env })).toEqual({ sent: 0, failed: 0, unconfirmed: 0, pending: 0 });
      expect(fake.messages).toHaveLength(1);
      const m = fake.messages[0]!;
      expect([m.to, m.from]).toEqual(['ops@agency.test', 'alerts@agency.test']);
      expect(m.subject).toBe('Sluice alert: Bob Stone (CTO) at Acme replied to outreach');
      expect(m.text).toContain('Rule: replies-by-email (reply, where industry=saas)');
      expect(m.sendKey).toMatch(/^alert:\d+:/);
      const row = await db.query<{ email_state: string; email_message_id: string; email_attempts: number }>(
        `SELECT n.email_state, n.email_message_id, n.email_attempts FROM alert_notifications n
           JOIN alert_rules r ON r.id = n.rule_id WHERE r.name = 'replies-by-email'`,
      );
      expect(row.rows).toEqual([{ email_state: 'sent', email_message_id: m.id, email_attempts: 1 }]);
      // refused (HTTP 400): failed with SendGrid's reason, not tried again
      await reply('r-email-2');
      await checkAlerts(db, { rule: 'replies-by-email' });
      fake.faults.failWith = 400;
      expect(await sendAlertEmails(db, { env })).toMatchObject({ sent: 0, failed: 1 });
      fake.faults.failWith = undefined;
      expect(await sendAlertEmails(db, { env })).toMatchObject({ sent: 0, failed: 0, pending: 0 });
      expect(fake.messages).toHaveLength(1);
      // no key: nothing can be sent; raised, and the email waits for the next pass
      await reply('r-email-3');
      await checkAlerts(db, { rule: 'replies-by-email' });
      await expect(sendAlertEmails(db, { env: { ...env, SENDGRID_API_KEY: undefined } })).rejects.toThrow(
        /SENDGRID_API_KEY/,
      );
      expect(await sendAlertEmails(db, { env })).toMatchObject({ sent: 1, pending: 0 });
      expect(fake.messages).toHaveLength(2);
      // the built-in `alerts` schedule fires the same check and send
      expect(BUILTIN_SCHEDULES.find((x) => x.name === 'alerts')).toMatchObject({
        action: 'alerts-check',
        cron: '*/5 * * * *',
      });
      await reply('r-email-4');
      const action = getAction('alerts-check');
      const summary = await action.run({ db, env }, parseArgs(action, {}, 'alerts'));
      expect(summary).toMatchObject({ rules: 4, emails: { sent: 1, pending: 0 } });
      expect(fake.messages).toHaveLength(3);
    } finally {
      await server.close();
    }
  });
});
