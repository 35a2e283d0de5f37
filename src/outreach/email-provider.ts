import type { DestinationClient } from '../crm/define-destination.ts';
import type { SluiceError } from '../errors.ts';
import type { HttpRequest, HttpResponse, RateLimitSpec } from '../providers/define-provider.ts';

/**
 * The email port (the seed's `EmailProvider`, docs/outreach.md): one definition object per tool,
 * registered in registry.ts. Two shapes of tool exist and the port says which one it is:
 *
 * - `message` tools (SendGrid) send one message when Sluice says so: Sluice schedules every step,
 *   holds the send window and the caps, and writes an outbox row before each call (`mail/send` has no
 *   idempotency key); `lookupSend` tells after an ambiguous failure whether the message went out.
 * - `campaign` tools (Instantly) send the steps themselves: Sluice creates the campaign (a draft,
 *   activated explicitly), adds leads with custom variables and the skip flags that make a repeated add
 *   harmless, and stops a lead when another channel says so.
 *
 * Both report events (webhooks, and `pollEvents` where the tool can be polled) as `EmailEvent`s.
 */
export interface EmailAddress {
  email: string;
  name?: string;
}

export interface OutboundMessage {
  /** Sluice's send id (`sequence:contact:step`): `custom_args.sluice_send_id`, the reconcile key. */
  sendKey: string;
  to: EmailAddress;
  from: EmailAddress;
  replyTo?: EmailAddress;
  subject: string;
  text: string;
  /** List-Unsubscribe, List-Unsubscribe-Post and the like. */
  headers: Record<string, string>;
  categories?: string[];
}

/** What an ambiguous send turned out to be. */
export type SendLookup = { found: true; messageId: string } | { found: false } | { found: 'unknown' };

export interface CampaignStep {
  subject: string;
  body: string;
  /** Days to wait after the previous step (Instantly's `delay`). */
  delayDays: number;
}

export interface CampaignSpec {
  name: string;
  steps: CampaignStep[];
  /** Send window, `HH:MM`, and days of week (0 = Sunday) in `timezone`. */
  window: { from: string; to: string; days: number[]; timezone: string };
  /** Sending accounts (mailboxes) and the daily cap of each. */
  senders: string[];
  dailyLimit: number;
}

export interface CampaignLead {
  email: string;
  first_name?: string;
  last_name?: string;
  company_name?: string;
  /** Flat values only (Instantly refuses objects and arrays). */
  custom_variables: Record<string, string | number | boolean | null>;
}

export interface AddLeadsResult {
  /** Leads the tool created, by email (lowercase). */
  created: Map<string, string>;
  /** Leads it skipped (already in the campaign or workspace, blocklisted, invalid). */
  skipped: number;
}

export type EmailEventKind =
  | 'reply'
  | 'auto_reply'
  | 'bounce'
  | 'unsubscribe'
  | 'complaint'
  | 'sent'
  | 'delivered'
  | 'open'
  | 'click'
  | 'other';

/** Events that end a contact's outreach (every sequence, every channel). */
export const STOP_EVENTS: ReadonlySet<EmailEventKind> = new Set([
  'reply',
  'auto_reply',
  'bounce',
  'unsubscribe',
  'complaint',
]);

/** Events that put the address on the global suppression list. */
export const SUPPRESS_EVENTS: ReadonlySet<EmailEventKind> = new Set(['bounce', 'unsubscribe', 'complaint']);

export interface EmailEvent {
  provider: string;
  /** Dedupe key: the provider's event id, or a composite where it has none (Instantly). */
  key: string;
  kind: EmailEventKind;
  /** The recipient (lowercase). */
  email: string;
  occurredAt: Date;
  /** Sluice's send id when the event carries it (SendGrid custom_args). */
  sendKey?: string;
  /** The contact, when the event names it itself (Sluice's own unsubscribe link); else found by send id or email. */
  contactId?: number;
  campaignId?: string;
  step?: number;
  subject?: string;
  /** A reply's text (kept for the CRM comment). */
  text?: string;
  /** The provider's own name of the event (`bounce`, `reply_received`). */
  providerKind: string;
}

export interface EmailSession {
  readonly provider: string;
  readonly mode: 'message' | 'campaign';
  /** Sends one message. Throws RetryableError when it may have been sent (answer lost), CriticalError when refused. */
  send?(message: OutboundMessage): Promise<{ messageId: string }>;
  /** After an ambiguous send: did the tool accept a message with this send key? */
  lookupSend?(sendKey: string, attemptedAt: Date): Promise<SendLookup>;
  /** Creates the campaign as a draft (never sends). Returns its id. */
  createCampaign?(spec: CampaignSpec): Promise<string>;
  activateCampaign?(id: string): Promise<void>;
  pauseCampaign?(id: string): Promise<void>;
  /** Adds leads, skipping those already in the campaign or the workspace (safe to repeat). */
  addLeads?(campaignId: string, leads: CampaignLead[]): Promise<AddLeadsResult>;
  /** Stops everything the tool would still send to this address (Instantly: the workspace blocklist). */
  stopAddress?(email: string): Promise<void>;
  /**
   * Events after `since` (oldest first), for the reconciliation poll. `campaignIds`: the campaigns
   * Sluice made (Instantly: lead statuses are read per campaign).
   */
  pollEvents?(since: Date, scope?: { campaignIds?: string[] }): Promise<EmailEvent[]>;
}

export interface EmailProviderDefinition {
  /** `sendgrid`, `instantly`: the channel name in sequence files, tables and limiter keys. */
  id: string;
  name: string;
  auth: { envVar: string };
  /** Default base URL; `SLUICE_<ID>_BASE_URL` overrides it (sandbox, EU host). */
  baseUrl: string;
  applyAuth(req: HttpRequest, token: string): HttpRequest;
  /** Limits of every request per account (Instantly: the whole workspace, every key and API version). */
  limits: RateLimitSpec[];
  /** Stricter limits of the requests sent with `limit: 'search'` (Instantly `GET /emails`, 20/min). */
  searchLimits?: RateLimitSpec[];
  concurrency: number;
  /** The one place this tool's error answers become Sluice errors. */
  mapError(res: HttpResponse): SluiceError;
  mode: 'message' | 'campaign';
  connect(client: DestinationClient): EmailSession;
}

export function defineEmailProvider<const D extends EmailProviderDefinition>(definition: D): D {
  return definition;
}
