import { afterAll, beforeAll, expect, it } from 'vitest';
import { addRule, listRules } from '../src/alerts/alert-rules.ts';
import { checkAlerts } from '../src/alerts/check-alerts.ts';
import type { Db } from '../src/db/db.ts';
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
});
