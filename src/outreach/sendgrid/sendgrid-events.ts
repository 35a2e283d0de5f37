import { createPublicKey, verify } from 'node:crypto';
import type { EmailEvent, EmailEventKind } from '../email-provider.ts';

/**
 * SendGrid's Event Webhook: a JSON array of events, signed with ECDSA P-256 / SHA-256 over
 * `timestamp + raw body` (headers `X-Twilio-Email-Event-Webhook-Signature`, base64 DER signature, and
 * `X-Twilio-Email-Event-Webhook-Timestamp`); the public key is base64 DER (SPKI) from
 * `GET /v3/user/webhooks/event/settings/signed`. Duplicates are normal (same `sg_event_id`).
 */
export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

export function verifySendGridSignature(
  publicKeyBase64: string,
  raw: Buffer,
  signature: string,
  timestamp: string,
): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
    return verify(
      'sha256',
      Buffer.concat([Buffer.from(timestamp, 'utf8'), raw]),
      key,
      Buffer.from(signature, 'base64'),
    );
  } catch {
    return false;
  }
}

interface SgEvent {
  email?: unknown;
  timestamp?: unknown;
  event?: unknown;
  sg_event_id?: unknown;
  sg_message_id?: unknown;
  type?: unknown;
  reason?: unknown;
  sluice_send_id?: unknown;
}

function kindOf(e: SgEvent): EmailEventKind {
  switch (e.event) {
    case 'processed':
      return 'sent';
    case 'delivered':
      return 'delivered';
    case 'bounce':
      // `blocked` is a temporary refusal by the receiving server, not a dead address
      return e.type === 'blocked' ? 'other' : 'bounce';
    case 'dropped':
      return /bounced address/i.test(String(e.reason ?? '')) ? 'bounce' : 'other';
    case 'spamreport':
      return 'complaint';
    case 'unsubscribe':
    case 'group_unsubscribe':
      return 'unsubscribe';
    case 'open':
      return 'open';
    case 'click':
      return 'click';
    default:
      return 'other';
  }
}

export function sendgridEvents(body: unknown): EmailEvent[] {
  if (!Array.isArray(body)) return [];
  const out: EmailEvent[] = [];
  for (const e of body as SgEvent[]) {
    if (!e || typeof e.email !== 'string' || typeof e.event !== 'string') continue;
    const ts = typeof e.timestamp === 'number' ? e.timestamp * 1000 : Date.now();
    out.push({
      provider: 'sendgrid',
      key:
        typeof e.sg_event_id === 'string'
          ? e.sg_event_id
          : `${e.event}:${e.email}:${String(e.sg_message_id ?? '')}:${ts}`,
      kind: kindOf(e),
      email: e.email.trim().toLowerCase(),
      occurredAt: new Date(ts),
      ...(typeof e.sluice_send_id === 'string' ? { sendKey: e.sluice_send_id } : {}),
      providerKind: e.event,
    });
  }
  return out;
}

/** An event's dedupe id for the inbound store: the batch's sg_event_ids (a redelivered batch repeats them). */
export function sendgridBatchId(body: unknown): string | undefined {
  if (!Array.isArray(body)) return undefined;
  const ids = (body as SgEvent[])
    .map((e) => (typeof e?.sg_event_id === 'string' ? e.sg_event_id : ''))
    .filter(Boolean);
  return ids.length ? ids.sort().join(',').slice(0, 400) : undefined;
}
