import { z } from 'zod';
import {
  ConfigError,
  CriticalError,
  RetryableError,
  type SluiceError,
  ThrottledError,
} from '../../errors.ts';
import type { HttpResponse } from '../../providers/define-provider.ts';
import { parseRetryAfter } from '../../providers/http.ts';
import { type CampaignLead, defineEmailProvider, type EmailEvent } from '../email-provider.ts';
import { instantlyEvent } from './instantly-events.ts';

/**
 * Instantly API v2 (docs/provider-apis.md §6): Bearer key; limits are workspace-wide, shared by every
 * key and API version (100/s, 6,000/min; `GET /emails` 20/min), so every process books its place in the
 * gateway's shared limiter. Campaigns are created as drafts (status 0) with stop_on_reply,
 * stop_on_auto_reply and stop_for_company, and activated explicitly. Leads are added in bulk with
 * `skip_if_in_workspace` and `skip_if_in_campaign`: no write has an idempotency key, and those flags make
 * a repeated add (after a lost answer) a skip instead of a second lead. Errors are Fastify-style
 * `{statusCode, error, message}`; 402 means the workspace has no active plan.
 */
const errorBody = z.object({ message: z.union([z.string(), z.array(z.string())]).optional() });

const campaign = z.object({ id: z.string(), status: z.number() });
const addLeads = z.object({
  leads_uploaded: z.number().optional(),
  skipped_count: z.number().optional(),
  in_blocklist: z.number().optional(),
  duplicated_leads: z.number().optional(),
  created_leads: z
    .array(z.object({ id: z.string(), email: z.string(), index: z.number().optional() }))
    .default([]),
});
const emailsPage = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      timestamp_email: z.string().optional(),
      timestamp_created: z.string(),
      subject: z.string().nullish(),
      from_address_email: z.string(),
      campaign_id: z.string().nullish(),
      lead: z.string().nullish(),
      is_auto_reply: z.union([z.boolean(), z.number()]).nullish(),
      body: z.object({ text: z.string().nullish() }).nullish(),
    }),
  ),
  next_starting_after: z.string().nullish(),
});

const leadsPage = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      email: z.string(),
      status: z.number().nullish(),
      campaign: z.string().nullish(),
      timestamp_updated: z.string().nullish(),
      timestamp_created: z.string().nullish(),
    }),
  ),
  next_starting_after: z.string().nullish(),
});

/**
 * Lead statuses the webhooks also report (Instantly lead `status`: -1 bounced, -2 unsubscribed). The
 * list filter is checked against `status` too: Instantly silently ignores a filter it does not know and
 * answers every lead.
 */
const LEAD_STATUS_EVENTS = [
  { filter: 'FILTER_VAL_BOUNCED', status: -1, event: 'email_bounced' },
  { filter: 'FILTER_VAL_UNSUBSCRIBED', status: -2, event: 'lead_unsubscribed' },
] as const;

/** Leads per `POST /leads/add` (the API takes 1–1000). */
const LEADS_PER_ADD = 500;

const DAY_KEYS = ['0', '1', '2', '3', '4', '5', '6'];

export const instantly = defineEmailProvider({
  id: 'instantly',
  name: 'Instantly',
  auth: { envVar: 'INSTANTLY_API_KEY' },
  baseUrl: 'https://api.instantly.ai',
  applyAuth: (req, token) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } }),
  limits: [
    { limit: 100, windowMs: 1_000, label: '100/s' },
    { limit: 6_000, windowMs: 60_000, label: '6000/min' },
  ],
  searchLimits: [{ limit: 20, windowMs: 60_000, label: '20/min' }],
  concurrency: 4,
  mode: 'campaign',
  mapError(res: HttpResponse): SluiceError {
    const b = errorBody.safeParse(res.body);
    const m = b.success ? b.data.message : undefined;
    const what = `instantly answered HTTP ${res.status}: ${Array.isArray(m) ? m.join('; ') : (m ?? res.text.slice(0, 200))}`;
    if (res.status === 429)
      return new ThrottledError(what, {
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) ?? 1_000,
      });
    if (res.status === 401) return new ConfigError(`${what}: check INSTANTLY_API_KEY`);
    if (res.status === 402) return new ConfigError(`${what}: the Instantly workspace has no active plan`);
    if (res.status === 403)
      return new ConfigError(`${what}: the key lacks a scope (leads:create, campaigns:all)`);
    if (res.status >= 500) return new RetryableError(what);
    return new CriticalError(what);
  },
  connect(client) {
    return {
      provider: 'instantly',
      mode: 'campaign',
      async createCampaign(spec) {
        const res = await client.request({
          method: 'POST',
          path: '/api/v2/campaigns',
          body: {
            name: spec.name,
            campaign_schedule: {
              schedules: [
                {
                  name: 'Sluice send window',
                  timing: { from: spec.window.from, to: spec.window.to },
                  days: Object.fromEntries(DAY_KEYS.map((d) => [d, spec.window.days.includes(Number(d))])),
                  timezone: spec.window.timezone,
                },
              ],
            },
            sequences: [
              {
                steps: spec.steps.map((s) => ({
                  type: 'email',
                  delay: s.delayDays,
                  variants: [{ subject: s.subject, body: s.body }],
                })),
              },
            ],
            email_list: spec.senders,
            daily_limit: spec.dailyLimit,
            stop_on_reply: true,
            stop_on_auto_reply: true,
            stop_for_company: true,
            open_tracking: false,
            link_tracking: false,
          },
        });
        const c = campaign.parse(res.body);
        if (c.status !== 0)
          throw new CriticalError(
            `instantly created campaign ${c.id} with status ${c.status}, not as a draft`,
          );
        return c.id;
      },
      async activateCampaign(id) {
        await client.request(
          { method: 'POST', path: `/api/v2/campaigns/${encodeURIComponent(id)}/activate`, body: {} },
          { idempotent: true },
        );
      },
      async pauseCampaign(id) {
        await client.request(
          { method: 'POST', path: `/api/v2/campaigns/${encodeURIComponent(id)}/pause`, body: {} },
          { idempotent: true },
        );
      },
      async addLeads(campaignId, leads: CampaignLead[]) {
        const created = new Map<string, string>();
        let skipped = 0;
        for (let i = 0; i < leads.length; i += LEADS_PER_ADD) {
          const chunk = leads.slice(i, i + LEADS_PER_ADD);
          // the skip flags make this safe to repeat after a lost answer: it is sent as idempotent
          const res = await client.request(
            {
              method: 'POST',
              path: '/api/v2/leads/add',
              body: {
                campaign_id: campaignId,
                skip_if_in_workspace: true,
                skip_if_in_campaign: true,
                leads: chunk,
              },
            },
            { idempotent: true },
          );
          const r = addLeads.parse(res.body);
          for (const l of r.created_leads) created.set(l.email.toLowerCase(), l.id);
          skipped += chunk.length - r.created_leads.length;
        }
        return { created, skipped };
      },
      async stopAddress(email) {
        await client.request(
          {
            method: 'POST',
            path: '/api/v2/block-lists-entries',
            body: { bl_value: email },
            acceptStatus: [409],
          },
          { idempotent: true },
        );
      },
      async pollEvents(since, scope = {}) {
        const out: EmailEvent[] = [];
        // bounces and unsubscribes: lead statuses per campaign (no time filter on /leads/list, so the
        // leads updated before the window are dropped here; a status changes no later than that update)
        for (const campaignId of scope.campaignIds ?? []) {
          for (const kind of LEAD_STATUS_EVENTS) {
            let after: string | undefined;
            for (let page = 0; page < 100; page++) {
              const res = await client.request(
                {
                  method: 'POST',
                  path: '/api/v2/leads/list',
                  body: {
                    campaign: campaignId,
                    filter: kind.filter,
                    limit: 100,
                    ...(after ? { starting_after: after } : {}),
                  },
                },
                { idempotent: true },
              );
              const p = leadsPage.parse(res.body);
              for (const l of p.items) {
                const at = l.timestamp_updated ?? l.timestamp_created;
                if (l.status !== kind.status || !at || Date.parse(at) < since.getTime()) continue;
                const ev = instantlyEvent({
                  event_type: kind.event,
                  timestamp: at,
                  lead_email: l.email,
                  campaign_id: l.campaign ?? campaignId,
                });
                if (ev) out.push(ev);
              }
              if (!p.next_starting_after || p.items.length === 0) break;
              after = p.next_starting_after;
            }
          }
        }
        let cursor: string | undefined;
        for (let page = 0; page < 20; page++) {
          const res = await client.request(
            {
              method: 'GET',
              path: '/api/v2/emails',
              query: {
                limit: 100,
                email_type: 'received',
                sort_order: 'asc',
                min_timestamp_created: since.toISOString(),
                ...(cursor ? { starting_after: cursor } : {}),
              },
            },
            { limit: 'search', idempotent: true },
          );
          const p = emailsPage.parse(res.body);
          for (const e of p.items) {
            const ev = instantlyEvent({
              event_type: e.is_auto_reply ? 'auto_reply_received' : 'reply_received',
              timestamp: e.timestamp_email ?? e.timestamp_created,
              lead_email: e.lead ?? e.from_address_email,
              campaign_id: e.campaign_id ?? undefined,
              reply_subject: e.subject ?? undefined,
              reply_text: e.body?.text ?? undefined,
              email_id: e.id,
            });
            if (ev) out.push(ev);
          }
          if (!p.next_starting_after || p.items.length === 0) break;
          cursor = p.next_starting_after;
        }
        return out.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
      },
    };
  },
});
