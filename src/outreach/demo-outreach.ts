import type { Hono } from 'hono';
import type { Db } from '../db/db.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { createClickUpFake, type FakeTask } from '../sandbox/fakes/crm/clickup.ts';
import { createSendGridFake } from '../sandbox/fakes/email/sendgrid.ts';
import { listen, type RunningServer, waitFor } from '../sandbox/fakes/fake-kit.ts';
import type { World } from '../sandbox/world.ts';
import { createApp } from '../server/app.ts';
import { HttpMetrics } from '../server/http-metrics.ts';
import { clickupSyncSource } from '../sync/crm-hooks.ts';
import { loadSync } from '../sync/load-sync.ts';
import { pollSync } from '../sync/poll-sync.ts';
import { parseTriggerConfig } from '../triggers/trigger-config.ts';
import { setTriggersEnabled, startTriggerFeeder } from '../triggers/trigger-feeder.ts';
import { startHookProcessor } from '../webhooks/inbound/hook-events.ts';
import { InboundRegistry } from '../webhooks/inbound/inbound-registry.ts';
import { clickupSource } from '../webhooks/inbound/signed-sources.ts';
import { registerOutreachSources } from './outreach-hooks.ts';
import { createOutreachServices } from './outreach-services.ts';
import { previewSequence } from './preview.ts';
import { runDueSequenceSteps } from './run-due-steps.ts';
import { nextInWindow } from './send-window.ts';
import { startSequenceFor } from './start-sequence.ts';

/**
 * `sluice demo --outreach`, after the CRM part: reps move a dozen ClickUp tasks to "Contacted"; the
 * ClickUp webhook comes back through Sluice's inbound route, the stage change fires the trigger rule
 * and the built-in `golf-contacted` sequence starts; one message is previewed; the first step goes to
 * the sandbox SendGrid (at the next opening of the send window, New York time); the world's people
 * answer (decided from each message: segment rates, greeting, club name), SendGrid's signed events and
 * Inbound Parse replies come back through the same route, and each reply stops its sequence and moves
 * its task to "Replied" with the reply as a comment.
 */
export const DEMO_SEQUENCE = 'golf-contacted';
const CONTACTED = 12;

export interface DemoOutreachReport {
  contacted: number;
  started: number;
  sent: number;
  bySegment: Record<
    string,
    { sent: number; replied: number; auto: number; bounced: number; unsubscribed: number }
  >;
  replies: { contact: string; segment: string; text: string; task: string }[];
}

export async function demoOutreach(options: {
  db: Db;
  engine: RunEngine;
  world: World;
  env: Readonly<Record<string, string | undefined>>;
  onStatus?: (line: string) => void;
}): Promise<DemoOutreachReport> {
  const { db } = options;
  const status = options.onStatus ?? (() => {});
  const clickup = createClickUpFake({ perMinute: 6_000 });
  const saved = await db.query<{ state: unknown }>(
    `SELECT state FROM sandbox_crm_state WHERE name = 'clickup'`,
  );
  if (saved.rows[0]) clickup.restoreState(saved.rows[0].state);
  const sendgrid = createSendGridFake({ world: options.world, seed: options.world.seed });
  const servers: RunningServer[] = [];
  const env: Record<string, string | undefined> = { ...options.env };
  const hooks = new InboundRegistry();
  const hookLoop = startHookProcessor(db, hooks, { intervalMs: 100 });
  const log = (l: string) => status(`  ${l}`);
  let feeder: ReturnType<typeof startTriggerFeeder> | undefined;
  try {
    const cu = await listen(clickup.app);
    const sg = await listen(sendgrid.app);
    servers.push(cu, sg);
    Object.assign(env, {
      CLICKUP_API_KEY: clickup.apiKey,
      SLUICE_CLICKUP_BASE_URL: cu.url,
      SLUICE_CLICKUP_RATE_LIMIT: '6000/min',
      SENDGRID_API_KEY: sendgrid.apiKey,
      SLUICE_SENDGRID_BASE_URL: sg.url,
      SLUICE_HOOK_SENDGRID_PUBLIC_KEY: sendgrid.publicKey,
      SLUICE_HOOK_SENDGRID_INBOUND_TOKEN: 'demo-inbound-token',
    });
    hooks.register(clickupSyncSource(clickupSource, env));
    registerOutreachSources(hooks, env);
    const app = createApp({
      db,
      engine: options.engine,
      hooks,
      env,
      metrics: new HttpMetrics(),
      callbacks: {},
      workers: 0,
      startedAt: new Date(),
    });
    const route = await listen(app as unknown as Hono);
    servers.push(route);
    const sub = await clickup.app.request(`/team/${clickup.teamId}/webhook`, {
      method: 'POST',
      headers: { authorization: clickup.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: `${route.url}/v1/hooks/clickup`, events: ['taskUpdated'] }),
    });
    env.SLUICE_HOOK_CLICKUP_SECRET = ((await sub.json()) as { webhook: { secret: string } }).webhook.secret;
    sendgrid.configure({
      eventUrl: `${route.url}/v1/hooks/sendgrid`,
      inboundUrl: `${route.url}/v1/hooks/sendgrid-inbound/demo-inbound-token`,
    });
    const def = await loadSync('golf-courses-clickup');
    // the reconciliation poll learns each task's current status first (the baseline a change is read against)
    await pollSync({ db, def, env });

    const services = createOutreachServices(db, env, { log });
    const rules = parseTriggerConfig(
      `rules:\n  - name: contacted-starts-outreach\n    on: contact.stage_changed\n    where: stage = contacted\n    sequence: ${DEMO_SEQUENCE}\n`,
      'sluice.config.yaml',
    ).rules;
    await setTriggersEnabled(db, true);
    let started = 0;
    // every contacted contact the rule fired for, started or skipped (no email, …): what to wait for
    const handled = new Set<number>();
    feeder = startTriggerFeeder(db, options.engine.queue, rules, {
      intervalMs: 100,
      startSequence: async (seq, ids) => {
        started += (await startSequenceFor(services, ids, seq)).started;
        for (const id of ids) handled.add(id);
      },
    });
    // a mix of segments, tasks not contacted before
    const open = clickup.lists
      .flatMap((l) => clickup.tasksIn(`${l.folderName}/${l.name}`))
      .filter((t: FakeTask) => t.status === 'to do');
    const picked: FakeTask[] = [];
    for (let i = 0; picked.length < CONTACTED && i < open.length; i++) {
      const byList = clickup.lists.map((l) => open.filter((t) => t.listId === l.id));
      const next = byList[i % byList.length]?.[Math.floor(i / byList.length)];
      if (next) picked.push(next);
      if (i > open.length * 3) break;
    }
    if (picked.length === 0) {
      status('outreach: no ClickUp task left in "to do" (every task was contacted in an earlier demo)');
      return { contacted: 0, started: 0, sent: 0, bySegment: {}, replies: [] };
    }
    for (const t of picked) await clickup.repEdit(t.id, { status: 'contacted' });
    await clickup.settled();
    // (waiting for `started` alone sat out the whole timeout whenever a contact had no email)
    await waitFor(async () => handled.size >= picked.length, 20_000);
    status(
      `outreach: reps moved ${picked.length} ClickUp tasks to "Contacted"; the webhooks came back, the stage changes fired rule contacted-starts-outreach and ${DEMO_SEQUENCE} started for ${started} contacts`,
    );
    const first = await db.query<{ contact_id: string }>(
      'SELECT contact_id FROM outreach_enrollments WHERE sequence = $1 ORDER BY id LIMIT 1',
      [DEMO_SEQUENCE],
    );
    if (first.rows[0]) {
      const p = await previewSequence(services, DEMO_SEQUENCE, [Number(first.rows[0].contact_id)]);
      const m = p.contacts[0]?.messages[0];
      if (m) {
        status(
          `preview (sluice outreach preview ${DEMO_SEQUENCE}), step 1 of ${p.contacts[0]!.messages.length}, track ${m.track}:`,
        );
        for (const line of [
          `From: ${m.sender.name} <${m.sender.email}>`,
          `Subject: ${m.subject}`,
          `List-Unsubscribe: ${m.headers['List-Unsubscribe']}`,
          '',
          ...m.body.split('\n'),
        ])
          status(`  | ${line}`);
      }
    }
    const window = (await services.loadSequence(DEMO_SEQUENCE)).window;
    const at = nextInWindow(new Date(), 'America/New_York', window);
    const run = await runDueSequenceSteps(services, at);
    status(
      `step 1 sent through the sandbox SendGrid at ${at.toISOString()} (the send window's next opening in New York): ${run.sent} messages, ${run.deferredWindow} waiting for their own window, ${run.deferredCap} for tomorrow's cap`,
    );
    await sendgrid.flush();
    const expected = sendgrid.messages.filter((m) => m.reaction.kind !== 'delivered').length;
    await waitFor(async () => {
      const r = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM hook_events WHERE state = 'pending' AND source LIKE 'sendgrid%'`,
      );
      const s = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outreach_contact_state');
      return r.rows[0]!.n === 0 && s.rows[0]!.n >= expected;
    }, 20_000);
    await clickup.settled();
    const bySegment: DemoOutreachReport['bySegment'] = {};
    const replies: DemoOutreachReport['replies'] = [];
    const rows = await db.query<{
      contact_id: string;
      segment: string;
      to_email: string;
      state: string | null;
    }>(
      `SELECT s.contact_id, e.segment, s.to_email, cs.state FROM outreach_sends s
         JOIN outreach_enrollments e ON e.id = s.enrollment_id
         LEFT JOIN outreach_contact_state cs ON cs.contact_id = s.contact_id
        WHERE s.sequence = $1 AND s.step = 0 AND s.state = 'sent'`,
      [DEMO_SEQUENCE],
    );
    for (const r of rows.rows) {
      const b = bySegment[r.segment] ?? { sent: 0, replied: 0, auto: 0, bounced: 0, unsubscribed: 0 };
      bySegment[r.segment] = b;
      b.sent++;
      if (r.state === 'replied') b.replied++;
      if (r.state === 'auto_replied') b.auto++;
      if (r.state === 'bounced') b.bounced++;
      if (r.state === 'unsubscribed' || r.state === 'complained') b.unsubscribed++;
      if (r.state === 'replied') {
        const ev = await db.query<{ detail: { text?: string } }>(
          `SELECT detail FROM outreach_events WHERE contact_id = $1 AND kind = 'reply' ORDER BY id LIMIT 1`,
          [r.contact_id],
        );
        const task = [...clickup.tasks.values()].find((t) =>
          [...t.custom.values()].includes(`sluice:contact:${r.contact_id}`),
        );
        replies.push({
          contact: r.to_email,
          segment: r.segment,
          text: (ev.rows[0]?.detail.text ?? '').split('\n')[0] ?? '',
          task: task ? `${task.name} → ${task.status}` : '-',
        });
      }
    }
    for (const [seg, b] of Object.entries(bySegment))
      status(
        `  ${seg}: ${b.sent} sent, ${b.replied} replied, ${b.auto} auto-replies, ${b.bounced} bounced, ${b.unsubscribed} unsubscribed`,
      );
    for (const r of replies)
      status(
        `  reply from ${r.contact} (${r.segment}): "${r.text}" — sequence stopped; ClickUp task ${r.task}, reply added as a comment`,
      );
    if (replies.length === 0)
      status(
        '  no reply this time (a dozen messages at single-digit reply rates); run the demo again for more contacts',
      );
    status('see `sluice outreach status` and `sluice outreach events`');
    await db.query(
      `INSERT INTO sandbox_crm_state (name, state) VALUES ('clickup', $1::jsonb)
       ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = now()`,
      [JSON.stringify(clickup.saveState())],
    );
    return { contacted: picked.length, started, sent: run.sent, bySegment, replies };
  } finally {
    await feeder?.stop();
    await setTriggersEnabled(db, false);
    await hookLoop.stop();
    await Promise.all(servers.map((s) => s.close()));
  }
}
