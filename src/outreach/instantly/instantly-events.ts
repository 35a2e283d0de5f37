import { createHash } from 'node:crypto';
import type { EmailEvent, EmailEventKind } from '../email-provider.ts';

/**
 * Instantly's events (webhook payloads, polled replies and polled lead statuses) as EmailEvents.
 * Instantly sends no event id and no signature: the dedupe key is a hash of event type, lead, campaign,
 * step and the event's own timestamp; a polled reply and its webhook share the email id; a bounce or
 * unsubscribe is keyed by event type, lead and campaign only, so the webhook and the polled lead status
 * (`status` -1 / -2 on `POST /leads/list`) are one event whichever comes first. The subscription names differ
 * from the payload names (`email_link_clicked` subscribes to `link_clicked`): both are accepted.
 */
const KINDS: Record<string, EmailEventKind> = {
  reply_received: 'reply',
  auto_reply_received: 'auto_reply',
  email_bounced: 'bounce',
  lead_unsubscribed: 'unsubscribe',
  email_sent: 'sent',
  email_opened: 'open',
  link_clicked: 'click',
  email_link_clicked: 'click',
};

export interface InstantlyPayload {
  event_type?: unknown;
  timestamp?: unknown;
  lead_email?: unknown;
  campaign_id?: unknown;
  step?: unknown;
  reply_subject?: unknown;
  reply_text?: unknown;
  email_id?: unknown;
}

export function instantlyEvent(p: InstantlyPayload): EmailEvent | undefined {
  if (typeof p.event_type !== 'string' || typeof p.lead_email !== 'string') return undefined;
  const occurredAt = new Date(typeof p.timestamp === 'string' ? p.timestamp : Date.now());
  const kind = KINDS[p.event_type] ?? 'other';
  const email = p.lead_email.trim().toLowerCase();
  // a lead bounces or unsubscribes once per campaign: the webhook and the polled lead status (which
  // knows neither the step nor the event's time) must make the same key
  const parts =
    (kind === 'reply' || kind === 'auto_reply') && typeof p.email_id === 'string'
      ? ['email', p.email_id]
      : kind === 'bounce' || kind === 'unsubscribe'
        ? [p.event_type, email, String(p.campaign_id ?? '')]
        : [p.event_type, email, String(p.campaign_id ?? ''), String(p.step ?? ''), occurredAt.toISOString()];
  return {
    provider: 'instantly',
    key: createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 32),
    kind,
    email,
    occurredAt: Number.isNaN(occurredAt.getTime()) ? new Date() : occurredAt,
    ...(typeof p.campaign_id === 'string' ? { campaignId: p.campaign_id } : {}),
    ...(typeof p.step === 'number' ? { step: p.step } : {}),
    ...(typeof p.reply_subject === 'string' ? { subject: p.reply_subject } : {}),
    ...(typeof p.reply_text === 'string' ? { text: p.reply_text } : {}),
    providerKind: p.event_type,
  };
}
