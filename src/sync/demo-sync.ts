import type { Hono } from 'hono';
import type { Db } from '../db/db.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { readCurrentFieldValues } from '../records/read-records.ts';
import { type ClickUpFake, createClickUpFake, type FakeTask } from '../sandbox/fakes/crm/clickup.ts';
import { SANDBOX_REPS } from '../sandbox/fakes/crm/clickup-workspace.ts';
import { listen, type RunningServer, waitFor } from '../sandbox/fakes/fake-kit.ts';
import { createApp } from '../server/app.ts';
import { HttpMetrics } from '../server/http-metrics.ts';
import { startHookProcessor } from '../webhooks/inbound/hook-events.ts';
import { InboundRegistry } from '../webhooks/inbound/inbound-registry.ts';
import { clickupSource } from '../webhooks/inbound/signed-sources.ts';
import { clickupSyncSource } from './crm-hooks.ts';
import { loadSync } from './load-sync.ts';
import { runSync, type SyncReport } from './run-sync.ts';

/**
 * The CRM part of `sluice demo`, after enrichment: the enriched contacts go to the sandbox's ClickUp
 * under the built-in golf-courses-clickup sync (one folder per segment), then a simulated rep corrects
 * a phone in ClickUp; the fake sends the signed webhook to Sluice's own inbound hook route (the one
 * `sluice serve` runs: signature on the raw bytes, stored, processed in a job), and the correction
 * becomes a `crm` value (`sluice export --provenance`). The fake's tasks are kept in the database
 * between demos, so a second demo finds them and creates none.
 */
export const DEMO_SYNC = 'golf-courses-clickup';
/** The demo raises ClickUp's 100/min (Free/Unlimited/Business) so it stays short; it says so. */
const DEMO_CLICKUP_PER_MINUTE = 6_000;
const REAL_CLICKUP_PER_MINUTE = 100;
const STATE = 'clickup';

export interface DemoCrmReport {
  sync: SyncReport['counts'];
  folders: { list: string; tasks: number; example: string | undefined }[];
  correction: { contactId: number; task: string; phone: string; recorded: boolean } | undefined;
}

export async function demoCrmSync(options: {
  db: Db;
  engine: RunEngine;
  env: Readonly<Record<string, string | undefined>>;
  onStatus?: (line: string) => void;
}): Promise<DemoCrmReport> {
  const started = Date.now();
  const { db } = options;
  const status = options.onStatus ?? (() => {});
  const fake: ClickUpFake = createClickUpFake({ perMinute: DEMO_CLICKUP_PER_MINUTE });
  const saved = await db.query<{ state: unknown }>('SELECT state FROM sandbox_crm_state WHERE name = $1', [
    STATE,
  ]);
  if (saved.rows[0]) fake.restoreState(saved.rows[0].state);
  const servers: RunningServer[] = [];
  const hooks = new InboundRegistry();
  const serverEnv: Record<string, string | undefined> = { ...options.env };
  const syncEnv = {
    ...options.env,
    CLICKUP_API_KEY: fake.apiKey,
    SLUICE_CLICKUP_RATE_LIMIT: `${DEMO_CLICKUP_PER_MINUTE}/min`,
  };
  hooks.register(clickupSyncSource(clickupSource, syncEnv));
  const hookLoop = startHookProcessor(db, hooks, { intervalMs: 100 });
  try {
    const clickup = await listen(fake.app, 0);
    servers.push(clickup);
    (syncEnv as Record<string, string>).SLUICE_CLICKUP_BASE_URL = clickup.url;
    const def = await loadSync(DEMO_SYNC);
    const report = await runSync({ db, def, env: syncEnv });
    const c = report.counts;
    status(
      `CRM sync ${DEMO_SYNC} → sandbox ClickUp: ${c.created} tasks created, ${c.updated} updated, ${c.unchanged} unchanged, ${c.skipped} skipped, ${c.retryable + c.permanent} failed; ${c.requests} requests (the demo raises ClickUp's ${REAL_CLICKUP_PER_MINUTE}/min to ${DEMO_CLICKUP_PER_MINUTE}/min: at the real limit they take ${Math.ceil(c.requests / REAL_CLICKUP_PER_MINUTE)} min)`,
    );
    // tasks in record order (the order they were created in depends on concurrency)
    const recordOf = (t: FakeTask) => {
      const list = fake.lists.find((l) => l.id === t.listId)!;
      return Number(
        String(t.custom.get(list.fields.find((f) => f.name === 'sluice_id')!.id) ?? '').split(':')[2],
      );
    };
    const inOrder = (path: string) => fake.tasksIn(path).sort((a, b) => recordOf(a) - recordOf(b));
    const folders = fake.lists.map((l) => {
      const path = `${l.folderName}/${l.name}`;
      const tasks = inOrder(path);
      return { list: path, tasks: tasks.length, example: tasks[0]?.name };
    });
    for (const f of folders)
      status(`  ${f.list}: ${f.tasks} tasks${f.example ? `, e.g. "${f.example}"` : ''}`);

    // A rep corrects a phone in ClickUp: a signed webhook to Sluice's inbound hook route, as in serve.
    const app = createApp({
      db,
      engine: options.engine,
      hooks,
      env: serverEnv,
      metrics: new HttpMetrics(),
      callbacks: {},
      workers: 0,
      startedAt: new Date(),
    });
    const hookServer = await listen(app as unknown as Hono, 0);
    servers.push(hookServer);
    const sub = await fake.app.request(`/team/${fake.teamId}/webhook`, {
      method: 'POST',
      headers: { authorization: fake.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: `${hookServer.url}/v1/hooks/clickup`, events: ['taskUpdated'] }),
    });
    serverEnv.SLUICE_HOOK_CLICKUP_SECRET = (
      (await sub.json()) as { webhook: { secret: string } }
    ).webhook.secret;
    const task = inOrder(folders[0]!.list)[0];
    let correction: DemoCrmReport['correction'];
    if (task) {
      const contactId = recordOf(task);
      const before = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM field_values WHERE source = 'crm' AND field = 'phone'`,
      );
      const phone = `+1804555${String(100 + before.rows[0]!.n).padStart(4, '0')}`;
      const rep = SANDBOX_REPS[0]!;
      await fake.repEdit(task.id, { Phone: phone }, rep.email);
      await fake.settled();
      const recorded = await waitFor(async () => {
        const v = (await readCurrentFieldValues(db, 'contact', [contactId])).get(contactId)?.get('phone');
        return v?.source === 'crm' && v.value === phone;
      }, 15_000);
      correction = { contactId, task: task.name, phone, recorded };
      status(
        recorded
          ? `rep correction: ${rep.username} set the phone of "${task.name}" to ${phone} in ClickUp; the signed webhook came back through the inbound hook and contact ${contactId}'s phone is now ${phone} with source crm (see \`sluice export --provenance\`: phone__source)`
          : `rep correction: the webhook for "${task.name}" was not processed within 15 s (see hook_events)`,
      );
    }
    await db.query(
      `INSERT INTO sandbox_crm_state (name, state) VALUES ($1, $2::jsonb)
       ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = now()`,
      [STATE, JSON.stringify(fake.saveState())],
    );
    status(`CRM part of the demo: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { sync: c, folders, correction };
  } finally {
    await hookLoop.stop();
    await Promise.all(servers.map((s) => s.close()));
  }
}
