import { z } from 'zod';
import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { ConfigError } from '../errors.ts';
import type { CallbackPolicy } from '../webhooks/send-webhook.ts';

/** What a firing gets: the process's database, environment and (in serve/worker) run engine. */
export interface ScheduleServices {
  db: Db;
  env: Config['env'];
  /** The run engine of the process (gateway, pipelines, queue); actions that call providers need it. */
  engine?: RunEngine;
  /** Outbound policy for callback URLs (webhook retries); the sandbox admits loopback receivers. */
  callbacks?: CallbackPolicy;
  log?(line: string): void;
}

/**
 * A kind of work a schedule can fire. `args` is validated when the schedule is added and again when
 * it fires; `run` returns the firing's summary (stored in `schedule_runs`, printed by `run-now`). A
 * thrown error fails the firing; the next firing runs as usual.
 */
export interface ScheduleAction<A extends z.ZodType = z.ZodType> {
  id: string;
  description: string;
  args: A;
  /** The firing calls providers or pipelines: it needs `services.engine` (run-now opens one). */
  needsEngine?: boolean;
  run(services: ScheduleServices, args: z.infer<A>): Promise<Record<string, unknown>>;
}

function defineAction<A extends z.ZodType>(a: ScheduleAction<A>): ScheduleAction<A> {
  return a;
}

const freshness = defineAction({
  id: 'freshness',
  description: 're-verify contacts not verified for `days` days; mark changes, find replacements, sync',
  args: z
    .object({
      days: z.number().int().positive().default(30),
      limit: z.number().int().positive().optional(),
      pipeline: z.string().optional(),
      sync: z.string().optional(),
    })
    .strict(),
  needsEngine: true,
  async run(services, args) {
    const { runFreshnessAction } = await import('../freshness/freshness-action.ts');
    return runFreshnessAction(services, args);
  },
});

const crmPull = defineAction({
  id: 'crm-pull',
  description:
    'for every sync in use (or `syncs`): the reconciliation poll (CRM edits back) and `crm pull` (records created in the CRM)',
  args: z.object({ syncs: z.array(z.string()).optional(), pull: z.boolean().default(true) }).strict(),
  async run(services, args) {
    const { runCrmPull } = await import('./crm-pull-action.ts');
    return runCrmPull(services, args);
  },
});

const webhookRetries = defineAction({
  id: 'webhook-retries',
  description:
    'send outbound webhook deliveries that are due (retries included), for processes without `serve`',
  args: z.object({ max: z.number().int().positive().default(200) }).strict(),
  async run(services, args) {
    const { sendDueDeliveries } = await import('../webhooks/delivery-worker.ts');
    return { ...(await sendDueDeliveries({ db: services.db, policy: services.callbacks ?? {} }, args.max)) };
  },
});

const sequenceSteps = defineAction({
  id: 'sequence-steps',
  description:
    'send the outreach sequence steps that are due (src/outreach), reconciling unconfirmed sends first',
  args: z.object({ limit: z.number().int().positive().default(200) }).strict(),
  async run(services, args) {
    const { createOutreachServices } = await import('../outreach/outreach-services.ts');
    const { runDueSequenceSteps } = await import('../outreach/run-due-steps.ts');
    const outreach = createOutreachServices(services.db, services.env, {
      ...(services.log ? { log: services.log } : {}),
    });
    return { ...(await runDueSequenceSteps(outreach, new Date(), { limit: args.limit })) };
  },
});

const outreachPoll = defineAction({
  id: 'outreach-poll',
  description:
    'the reconciliation poll of the email tools outreach uses (Instantly: replies, bounces, unsubscribes), behind their webhooks',
  args: z.object({ channels: z.array(z.enum(['instantly'])).optional() }).strict(),
  async run(services, args) {
    const { createOutreachServices } = await import('../outreach/outreach-services.ts');
    const { pollEmailEvents } = await import('../outreach/poll-events.ts');
    // only tools a sequence sends through: a deployment without Instantly polls nothing
    const used = await services.db.query<{ channel: string }>(
      `SELECT DISTINCT channel FROM outreach_sequences WHERE channel = ANY($1::text[]) ORDER BY 1`,
      [args.channels ?? ['instantly']],
    );
    const outreach = createOutreachServices(services.db, services.env, {
      ...(services.log ? { log: services.log } : {}),
    });
    const out: Record<string, unknown> = {};
    for (const { channel } of used.rows) {
      const r = await pollEmailEvents(outreach, channel);
      out[channel] = { events: r.events, duplicates: r.duplicates, stops: r.stops, since: r.since };
    }
    return out;
  },
});

const alertsCheck = defineAction({
  id: 'alerts-check',
  description:
    'alert rules on timing signals (src/alerts): queue Slack messages for new matching signals, send the alert emails',
  args: z.object({ limit: z.number().int().positive().default(200) }).strict(),
  async run(services, args) {
    const { checkAlerts } = await import('../alerts/check-alerts.ts');
    const { sendAlertEmails } = await import('../alerts/send-alert-emails.ts');
    const rules = await checkAlerts(services.db);
    const emails = await sendAlertEmails(services.db, { env: services.env, limit: args.limit });
    return {
      rules: rules.length,
      signals: rules.reduce((s, r) => s + r.signals, 0),
      notified: rules.reduce((s, r) => s + r.notified, 0),
      emails,
    };
  },
});

const ACTIONS: ScheduleAction[] = [
  freshness,
  crmPull,
  sequenceSteps,
  outreachPoll,
  webhookRetries,
  alertsCheck,
];

export function scheduleActions(): readonly ScheduleAction[] {
  return ACTIONS;
}

export function getAction(id: string): ScheduleAction {
  const a = ACTIONS.find((x) => x.id === id);
  if (!a)
    throw new ConfigError(
      `unknown schedule action "${id}"; use one of ${ACTIONS.map((x) => x.id).join(', ')}`,
      {
        exitCode: 2,
      },
    );
  return a;
}

/** The action's args, validated (defaults filled in); a ConfigError naming the schedule otherwise. */
export function parseArgs(action: ScheduleAction, args: unknown, schedule: string): Record<string, unknown> {
  const r = action.args.safeParse(args ?? {});
  if (!r.success)
    throw new ConfigError(
      `schedule "${schedule}": args for ${action.id}: ${r.error.issues.map((i) => `${i.path.join('.') || '(args)'}: ${i.message}`).join('; ')}`,
      { exitCode: 2 },
    );
  return r.data as Record<string, unknown>;
}
