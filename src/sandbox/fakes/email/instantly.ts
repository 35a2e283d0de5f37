import { randomUUID } from 'node:crypto';
import { type Context, Hono } from 'hono';
import type { Company, World } from '../../world.ts';
import { RollingWindow } from '../crm/crm-kit.ts';
import { companyIndex, type Reaction, reactTo } from './recipient-behaviour.ts';

/**
 * Fake Instantly API v2 (docs/provider-apis.md §6): Bearer key (401), 402 without an active plan,
 * Fastify-style errors `{statusCode, error, message}`, the workspace-wide limits (100/s and 6,000/min
 * across every key; `GET /emails` 20/min) answered with a 429 and no headers. Campaigns are created as
 * drafts (status 0) and send only once activated; leads are added in bulk with custom variables (no
 * objects or arrays) and the skip flags; the workspace blocklist stops every send to an address.
 *
 * The fake runs its campaigns on a clock the test or demo moves (`advance(now)`): each active lead whose
 * step is due and whose campaign's schedule is open gets the step, its `{{variables}}` filled from the
 * lead; the world's person then reacts (recipient-behaviour.ts) and the events go to the subscribed
 * webhooks (unsigned, as Instantly sends them), replies also into `GET /emails`. stop_on_reply and
 * stop_on_auto_reply stop the lead.
 */
export interface FakeCampaign {
  id: string;
  name: string;
  status: number;
  body: Record<string, unknown>;
  steps: { subject: string; body: string; delay: number }[];
  schedule: { from: number; to: number; days: number[]; timezone: string };
  dailyLimit: number;
  senders: string[];
  stopOnReply: boolean;
  stopOnAutoReply: boolean;
}

export interface FakeLead {
  id: string;
  email: string;
  campaign: string;
  first_name?: string;
  last_name?: string;
  company_name?: string;
  custom_variables: Record<string, unknown>;
  /** 1 active, 3 completed, -1 bounced, -2 unsubscribed */
  status: number;
  step: number;
  nextAt: number;
  created: number;
  /** Last change of the lead (its status included): `timestamp_updated`. */
  updated: number;
}

export interface FakeEmail {
  id: string;
  campaign: string;
  lead: string;
  step: number;
  kind: 'sent' | 'received';
  subject: string;
  body: string;
  from: string;
  to: string;
  at: number;
  autoReply: boolean;
  reaction?: Reaction;
}

export interface InstantlyFake {
  app: Hono;
  apiKey: string;
  campaigns: Map<string, FakeCampaign>;
  leads: FakeLead[];
  emails: FakeEmail[];
  blocklist: Set<string>;
  stats: { requests: number; throttled: number; webhooksSent: number; maxPerSecond: number };
  /** No active plan: every request answers 402. */
  plan: { active: boolean };
  /** Sends every due step at simulated time `now`, then delivers the webhooks. Returns the emails sent. */
  advance(now: Date): Promise<FakeEmail[]>;
  /** A lead answers by hand (tests, demos): recorded in `/emails` and sent to the webhooks. */
  reply(email: string, text: string, at?: Date, autoReply?: boolean): Promise<void>;
}

export interface InstantlyFakeOptions {
  apiKey?: string;
  world?: World;
  seed?: number;
}

const fail = (c: Context, status: number, error: string, message: string | string[]) =>
  c.json({ statusCode: status, error, message }, status as 400);

const hm = (s: unknown) => {
  const m = /^(\d\d):(\d\d)$/.exec(String(s ?? ''));
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
};

function localParts(at: number, tz: string) {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    })
      .formatToParts(new Date(at))
      .map((x) => [x.type, x.value]),
  );
  return {
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday ?? ''),
    minutes: Number(p.hour) * 60 + Number(p.minute),
    day: `${p.year}-${p.month}-${p.day}`,
  };
}

export function createInstantlyFake(options: InstantlyFakeOptions = {}): InstantlyFake {
  const apiKey = options.apiKey ?? 'sandbox-instantly-key';
  const seed = options.seed ?? 1;
  const campaigns = new Map<string, FakeCampaign>();
  const leads: FakeLead[] = [];
  const emails: FakeEmail[] = [];
  const blocklist = new Set<string>();
  const hooks: { id: string; url: string; event: string }[] = [];
  const perSecond = new RollingWindow(100, 1_000);
  const perMinute = new RollingWindow(6_000, 60_000);
  const emailsWindow = new RollingWindow(20, 60_000);
  const stats = { requests: 0, throttled: 0, webhooksSent: 0, maxPerSecond: 0 };
  const plan = { active: true };
  const sentToday = new Map<string, number>();
  const companies: Map<string, Company> = options.world ? companyIndex(options.world) : new Map();
  const app = new Hono();

  app.use('*', async (c, next) => {
    stats.requests++;
    if (c.req.header('authorization') !== `Bearer ${apiKey}`)
      return fail(c, 401, 'Unauthorized', 'Invalid API key');
    if (!plan.active) return fail(c, 402, 'Payment Required', 'No active plan for this workspace');
    // one window for the whole workspace, whatever the key or API version
    if (!perSecond.take().allowed || !perMinute.take().allowed) {
      stats.throttled++;
      return fail(c, 429, 'Too Many Requests', 'Rate limit exceeded');
    }
    stats.maxPerSecond = Math.max(stats.maxPerSecond, perSecond.maxSeen);
    await next();
  });

  app.post('/api/v2/campaigns', async (c) => {
    const b = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!b || typeof b.name !== 'string' || !b.name)
      return fail(c, 400, 'Bad Request', "body must have required property 'name'");
    const sched = (b.campaign_schedule as { schedules?: Record<string, unknown>[] } | undefined)
      ?.schedules?.[0];
    if (!sched) return fail(c, 400, 'Bad Request', "body must have required property 'campaign_schedule'");
    const timing = sched.timing as { from?: string; to?: string } | undefined;
    const tz = String(sched.timezone ?? '');
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
    } catch {
      return fail(
        c,
        400,
        'Bad Request',
        `body/campaign_schedule/schedules/0/timezone must be a valid timezone`,
      );
    }
    const steps = (
      (
        b.sequences as
          | { steps?: { delay?: number; variants?: { subject?: string; body?: string }[] }[] }[]
          | undefined
      )?.[0]?.steps ?? []
    ).map((s) => ({
      subject: s.variants?.[0]?.subject ?? '',
      body: s.variants?.[0]?.body ?? '',
      delay: Number(s.delay ?? 0),
    }));
    if (steps.length === 0) return fail(c, 400, 'Bad Request', 'a campaign needs at least one step');
    const days = Object.entries((sched.days as Record<string, boolean>) ?? {})
      .filter(([, on]) => on)
      .map(([d]) => Number(d));
    const camp: FakeCampaign = {
      id: randomUUID(),
      name: b.name,
      status: 0,
      body: b,
      steps,
      schedule: { from: hm(timing?.from), to: hm(timing?.to), days, timezone: tz },
      dailyLimit: Number(b.daily_limit ?? 50),
      senders: (b.email_list as string[]) ?? [],
      stopOnReply: b.stop_on_reply === true,
      stopOnAutoReply: b.stop_on_auto_reply === true,
    };
    campaigns.set(camp.id, camp);
    return c.json(campaignJson(camp));
  });
  const campaignJson = (x: FakeCampaign) => ({
    ...x.body,
    id: x.id,
    name: x.name,
    status: x.status,
    timestamp_created: new Date().toISOString(),
  });
  app.get('/api/v2/campaigns/:id', (c) => {
    const x = campaigns.get(c.req.param('id'));
    return x ? c.json(campaignJson(x)) : fail(c, 404, 'Not Found', 'Campaign not found');
  });
  for (const [verb, status] of [
    ['activate', 1],
    ['pause', 2],
  ] as const)
    app.post(`/api/v2/campaigns/:id/${verb}`, (c) => {
      const x = campaigns.get(c.req.param('id'));
      if (!x) return fail(c, 404, 'Not Found', 'Campaign not found');
      if (verb === 'activate' && x.senders.length === 0)
        return fail(c, 400, 'Bad Request', 'Add at least one sending account');
      x.status = status;
      return c.json(campaignJson(x));
    });

  app.post('/api/v2/leads/add', async (c) => {
    const b = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!b) return fail(c, 400, 'Bad Request', 'Body must be JSON');
    if (b.campaign_id && b.list_id)
      return fail(c, 400, 'Bad Request', 'Provide either campaign_id or list_id, not both');
    const campaign = campaigns.get(String(b.campaign_id ?? ''));
    if (!campaign) return fail(c, 404, 'Not Found', 'Campaign not found');
    const input = b.leads as Record<string, unknown>[] | undefined;
    if (!Array.isArray(input) || input.length < 1 || input.length > 1000)
      return fail(c, 400, 'Bad Request', 'body/leads must contain between 1 and 1000 items');
    for (const [i, l] of input.entries()) {
      for (const [k, v] of Object.entries((l.custom_variables as Record<string, unknown>) ?? {}))
        if (v !== null && typeof v === 'object')
          return fail(
            c,
            400,
            'Bad Request',
            `body/leads/${i}/custom_variables/${k} must be string, number, boolean or null`,
          );
      if (typeof l.email !== 'string')
        return fail(c, 400, 'Bad Request', `body/leads/${i} must have required property 'email'`);
    }
    let inBlocklist = 0;
    let skipped = 0;
    let invalid = 0;
    let duplicates = 0;
    const created: { id: string; email: string; index: number }[] = [];
    const seen = new Set<string>();
    for (const [index, l] of input.entries()) {
      const email = String(l.email).trim().toLowerCase();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        invalid++;
        continue;
      }
      if (seen.has(email)) {
        duplicates++;
        continue;
      }
      seen.add(email);
      if (blocklist.has(email)) {
        inBlocklist++;
        continue;
      }
      if (b.skip_if_in_workspace === true && leads.some((x) => x.email === email)) {
        skipped++;
        continue;
      }
      if (
        b.skip_if_in_campaign === true &&
        leads.some((x) => x.email === email && x.campaign === campaign.id)
      ) {
        skipped++;
        continue;
      }
      const lead: FakeLead = {
        id: randomUUID(),
        email,
        campaign: campaign.id,
        ...(typeof l.first_name === 'string' ? { first_name: l.first_name } : {}),
        ...(typeof l.last_name === 'string' ? { last_name: l.last_name } : {}),
        ...(typeof l.company_name === 'string' ? { company_name: l.company_name } : {}),
        custom_variables: (l.custom_variables as Record<string, unknown>) ?? {},
        status: 1,
        step: 0,
        nextAt: 0,
        created: Date.now(),
        updated: Date.now(),
      };
      leads.push(lead);
      created.push({ id: lead.id, email, index });
    }
    return c.json({
      status: 'success',
      total_sent: input.length,
      leads_uploaded: created.length,
      in_blocklist: inBlocklist,
      blocklist_used: null,
      duplicated_leads: duplicates,
      skipped_count: skipped,
      invalid_email_count: invalid,
      incomplete_count: 0,
      duplicate_email_count: duplicates,
      remaining_in_plan: 100_000 - leads.length,
      created_leads: created,
    });
  });

  // the filters Sluice uses; like Instantly, an unknown filter is ignored (every lead answered)
  const FILTERS: Record<string, (l: FakeLead) => boolean> = {
    FILTER_VAL_BOUNCED: (l) => l.status === -1,
    FILTER_VAL_UNSUBSCRIBED: (l) => l.status === -2,
    FILTER_VAL_ACTIVE: (l) => l.status === 1,
    FILTER_VAL_COMPLETED: (l) => l.status === 3,
  };
  app.post('/api/v2/leads/list', async (c) => {
    const b = ((await c.req.json().catch(() => null)) ?? {}) as {
      campaign?: string;
      filter?: string;
      limit?: number;
      starting_after?: string;
    };
    const match = (b.filter && FILTERS[b.filter]) || (() => true);
    const all = leads.filter((l) => (!b.campaign || l.campaign === b.campaign) && match(l));
    const start = b.starting_after ? all.findIndex((l) => l.id === b.starting_after) + 1 : 0;
    const page = all.slice(start, start + Math.min(100, b.limit ?? 100));
    return c.json({
      items: page.map(({ created, updated, nextAt: _, ...l }) => ({
        ...l,
        timestamp_created: new Date(created).toISOString(),
        timestamp_updated: new Date(updated).toISOString(),
        payload: l.custom_variables,
      })),
      next_starting_after: start + page.length < all.length ? page.at(-1)?.id : undefined,
    });
  });

  app.post('/api/v2/block-lists-entries', async (c) => {
    const b = ((await c.req.json().catch(() => null)) ?? {}) as { bl_value?: string };
    if (!b.bl_value) return fail(c, 400, 'Bad Request', "body must have required property 'bl_value'");
    blocklist.add(b.bl_value.toLowerCase());
    return c.json({
      id: randomUUID(),
      bl_value: b.bl_value,
      is_domain: !b.bl_value.includes('@'),
      timestamp_created: new Date().toISOString(),
    });
  });

  app.get('/api/v2/emails', (c) => {
    if (!emailsWindow.take().allowed) {
      stats.throttled++;
      return fail(c, 429, 'Too Many Requests', 'Rate limit exceeded');
    }
    const type = c.req.query('email_type');
    const min = c.req.query('min_timestamp_created');
    const after = c.req.query('starting_after');
    const limit = Math.min(100, Number(c.req.query('limit') ?? 10));
    let list = emails.filter(
      (e) =>
        (!type || (type === 'received' ? e.kind === 'received' : e.kind === 'sent')) &&
        (!min || e.at >= Date.parse(min)),
    );
    list.sort((a, b) => a.at - b.at);
    if (after) list = list.slice(list.findIndex((e) => e.id === after) + 1);
    const page = list.slice(0, limit);
    return c.json({
      items: page.map((e) => ({
        id: e.id,
        timestamp_created: new Date(e.at).toISOString(),
        timestamp_email: new Date(e.at).toISOString(),
        subject: e.subject,
        from_address_email: e.from,
        to_address_email_list: e.to,
        body: { text: e.body },
        campaign_id: e.campaign,
        lead: e.kind === 'received' ? e.from : e.to,
        ue_type: e.kind === 'received' ? 2 : 1,
        is_auto_reply: e.autoReply ? 1 : 0,
        step: e.step,
      })),
      next_starting_after: list.length > limit ? page.at(-1)?.id : undefined,
    });
  });

  app.post('/api/v2/webhooks', async (c) => {
    const b = ((await c.req.json().catch(() => null)) ?? {}) as {
      target_hook_url?: string;
      event_type?: string;
    };
    if (!b.target_hook_url)
      return fail(c, 400, 'Bad Request', "body must have required property 'target_hook_url'");
    const h = { id: randomUUID(), url: b.target_hook_url, event: b.event_type ?? 'all_events' };
    hooks.push(h);
    return c.json({ id: h.id, target_hook_url: h.url, event_type: h.event, status: 1 });
  });

  const fill = (text: string, l: FakeLead) =>
    text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, k: string) => {
      const v =
        k === 'firstName'
          ? l.first_name
          : k === 'lastName'
            ? l.last_name
            : k === 'companyName'
              ? l.company_name
              : l.custom_variables[k];
      return v === undefined || v === null ? '' : String(v);
    });

  async function emit(payload: Record<string, unknown>) {
    for (const h of hooks) {
      // subscriptions are named differently from payloads (email_link_clicked vs link_clicked)
      if (h.event !== 'all_events' && h.event !== payload.event_type) continue;
      const u = new URL(h.url);
      if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') continue;
      stats.webhooksSent++;
      try {
        const res = await fetch(u, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
          signal: AbortSignal.timeout(7_000),
        });
        await res.arrayBuffer();
      } catch {
        // Instantly switches a failing webhook off after repeated failures; one miss is just lost
      }
    }
  }

  async function advance(now: Date): Promise<FakeEmail[]> {
    const at = now.getTime();
    const sent: FakeEmail[] = [];
    const payloads: Record<string, unknown>[] = [];
    for (const lead of leads) {
      const camp = campaigns.get(lead.campaign);
      if (camp?.status !== 1 || lead.status !== 1) continue;
      if (blocklist.has(lead.email)) continue;
      if (lead.nextAt > at) continue;
      const local = localParts(at, camp.schedule.timezone);
      if (
        !camp.schedule.days.includes(local.weekday) ||
        local.minutes < camp.schedule.from ||
        local.minutes >= camp.schedule.to
      )
        continue;
      const sender = camp.senders[0] ?? 'sender@instantly.test';
      const dayKey = `${sender}:${local.day}`;
      if ((sentToday.get(dayKey) ?? 0) >= camp.dailyLimit) continue;
      const step = camp.steps[lead.step];
      if (!step) continue;
      sentToday.set(dayKey, (sentToday.get(dayKey) ?? 0) + 1);
      const email: FakeEmail = {
        id: randomUUID(),
        campaign: camp.id,
        lead: lead.email,
        step: lead.step,
        kind: 'sent',
        subject: fill(step.subject, lead),
        body: fill(step.body, lead),
        from: sender,
        to: lead.email,
        at,
        autoReply: false,
      };
      email.reaction = options.world
        ? reactTo(options.world, companies, seed, { to: lead.email, body: email.body, step: lead.step })
        : { kind: 'delivered' };
      emails.push(email);
      sent.push(email);
      const base = {
        timestamp: now.toISOString(),
        workspace: 'sandbox-workspace',
        campaign_id: camp.id,
        campaign_name: camp.name,
        lead_email: lead.email,
        email_account: sender,
        step: lead.step + 1,
        variant: 1,
      };
      payloads.push({ ...base, event_type: 'email_sent', is_first: lead.step === 0 });
      const r = email.reaction;
      const replyAt = new Date(at + 60 * 60_000).toISOString();
      if (r.kind === 'bounce') {
        lead.status = -1;
        lead.updated = at;
        payloads.push({ ...base, event_type: 'email_bounced' });
      } else if (r.kind === 'unsubscribe' || r.kind === 'complaint') {
        lead.status = -2;
        lead.updated = at;
        payloads.push({ ...base, event_type: 'lead_unsubscribed' });
      } else if (r.kind === 'reply' || r.kind === 'auto_reply') {
        const reply: FakeEmail = {
          id: randomUUID(),
          campaign: camp.id,
          lead: lead.email,
          step: lead.step,
          kind: 'received',
          subject: `Re: ${email.subject}`,
          body: r.text ?? '',
          from: lead.email,
          to: sender,
          at: at + 60 * 60_000,
          autoReply: r.kind === 'auto_reply',
        };
        emails.push(reply);
        payloads.push({
          ...base,
          timestamp: replyAt,
          event_type: r.kind === 'reply' ? 'reply_received' : 'auto_reply_received',
          email_id: reply.id,
          reply_subject: reply.subject,
          reply_text: reply.body,
        });
        if ((r.kind === 'reply' && camp.stopOnReply) || (r.kind === 'auto_reply' && camp.stopOnAutoReply))
          lead.status = 3;
      }
      if (lead.status === 1) {
        lead.step++;
        const next = camp.steps[lead.step];
        if (next) lead.nextAt = at + next.delay * 86_400_000;
        else lead.status = 3;
      }
    }
    for (const p of payloads) await emit(p);
    return sent;
  }

  async function reply(address: string, text: string, when = new Date(), autoReply = false) {
    const lead = leads.find((l) => l.email === address.toLowerCase());
    if (!lead) throw new Error(`instantly fake: no lead ${address}`);
    const camp = campaigns.get(lead.campaign)!;
    const last = [...emails].reverse().find((e) => e.kind === 'sent' && e.lead === lead.email);
    const r: FakeEmail = {
      id: randomUUID(),
      campaign: camp.id,
      lead: lead.email,
      step: last?.step ?? 0,
      kind: 'received',
      subject: `Re: ${last?.subject ?? camp.name}`,
      body: text,
      from: lead.email,
      to: camp.senders[0] ?? '',
      at: when.getTime(),
      autoReply,
    };
    emails.push(r);
    if ((camp.stopOnReply && !autoReply) || (camp.stopOnAutoReply && autoReply)) lead.status = 3;
    await emit({
      timestamp: when.toISOString(),
      event_type: autoReply ? 'auto_reply_received' : 'reply_received',
      workspace: 'sandbox-workspace',
      campaign_id: camp.id,
      campaign_name: camp.name,
      lead_email: lead.email,
      email_account: r.to,
      step: r.step + 1,
      variant: 1,
      email_id: r.id,
      reply_subject: r.subject,
      reply_text: text,
    });
  }

  return { app, apiKey, campaigns, leads, emails, blocklist, stats, plan, advance, reply };
}
