import { SluiceError } from '../errors.ts';
import { enqueueDelivery, ensureEndpoint } from '../webhooks/webhook-store.ts';
import { updateCrmOnReply } from './crm-update.ts';
import { type EmailEvent, STOP_EVENTS, SUPPRESS_EVENTS } from './email-provider.ts';
import type { OutreachServices } from './outreach-services.ts';
import { addSuppression } from './outreach-store.ts';
import { settleSent } from './run-due-steps.ts';

/**
 * One email event (webhook or poll, any tool) → Sluice's state. Deduplicated on (provider, key): a
 * repeated event changes nothing. Then:
 * - `sent`/`delivered`/… carrying a send id settle an open outbox row (evidence the message went out);
 * - stop events (reply, auto-reply, bounce, unsubscribe, complaint) set the contact's outreach state and
 *   stop every active sequence of the contact on every channel, in one transaction; bounces,
 *   unsubscribes and complaints add the address to the global suppression list;
 * - then the side effects, each recorded so a retry does only what is left: the address is stopped in
 *   Instantly (blocklist) when the contact has Instantly enrollments; on a reply the CRM task gets the
 *   reply status and a comment, and the rep (the track's sender) is told by a signed webhook (the
 *   webhooks outbox) and/or an email.
 */
export interface IngestResult {
  duplicate: boolean;
  contactId?: number;
  kind: string;
  stopped?: number;
  suppressed?: boolean;
  crm?: string;
  notified?: boolean;
}

export async function ingestEmailEvent(services: OutreachServices, event: EmailEvent): Promise<IngestResult> {
  const { db } = services;
  const email = event.email.toLowerCase();
  const byId =
    event.contactId !== undefined
      ? await db.query<{ id: string }>('SELECT id FROM contacts WHERE id = $1', [event.contactId])
      : undefined;
  const bySend =
    byId?.rows[0] === undefined && event.sendKey
      ? await db.query<{ contact_id: string }>('SELECT contact_id FROM outreach_sends WHERE send_key = $1', [
          event.sendKey,
        ])
      : undefined;
  const byEmail =
    byId?.rows[0] === undefined && bySend?.rows[0] === undefined
      ? await db.query<{ id: string }>(
          'SELECT id FROM contacts WHERE lower(email) = $1 ORDER BY id LIMIT 1',
          [email],
        )
      : undefined;
  const contactId = Number(
    byId?.rows[0]?.id ?? bySend?.rows[0]?.contact_id ?? byEmail?.rows[0]?.id ?? Number.NaN,
  );
  const cid = Number.isFinite(contactId) ? contactId : undefined;
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO outreach_events (provider, event_key, kind, email, contact_id, send_key, detail, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8) ON CONFLICT (provider, event_key) DO NOTHING RETURNING id`,
    [
      event.provider,
      event.key,
      event.kind,
      email,
      cid ?? null,
      event.sendKey ?? null,
      JSON.stringify({
        providerKind: event.providerKind,
        ...(event.subject ? { subject: event.subject } : {}),
        ...(event.text ? { text: event.text.slice(0, 5_000) } : {}),
        ...(event.campaignId ? { campaignId: event.campaignId } : {}),
        ...(event.step !== undefined ? { step: event.step } : {}),
      }),
      event.occurredAt,
    ],
  );
  const duplicate = inserted.rows.length === 0;
  const out: IngestResult = { duplicate, kind: event.kind, ...(cid !== undefined ? { contactId: cid } : {}) };
  if (event.sendKey && !duplicate) await settleSent(services, event.sendKey, null, event.occurredAt);
  if (!STOP_EVENTS.has(event.kind)) return out;
  if (SUPPRESS_EVENTS.has(event.kind) && !duplicate)
    out.suppressed = await addSuppression(db, email, event.kind, event.provider);
  if (cid === undefined) return out;
  if (!duplicate) {
    out.stopped = await db.transaction(async (tx) => {
      // the first stop names the state; a later bounce after a reply still suppresses (above)
      await tx.query(
        `INSERT INTO outreach_contact_state (contact_id, state, event_id) VALUES ($1, $2, $3)
         ON CONFLICT (contact_id) DO NOTHING`,
        [cid, stateName(event.kind), inserted.rows[0]!.id],
      );
      const r = await tx.query(
        `UPDATE outreach_enrollments SET state = 'stopped', stop_reason = $2, claimed_until = NULL, updated_at = now()
          WHERE contact_id = $1 AND state = 'active'`,
        [cid, `${event.kind} (${event.provider})`],
      );
      return r.rowCount;
    });
  }
  await finishSideEffects(services, cid, out);
  return out;
}

function stateName(kind: string): string {
  return (
    {
      reply: 'replied',
      auto_reply: 'auto_replied',
      bounce: 'bounced',
      unsubscribe: 'unsubscribed',
      complaint: 'complained',
    }[kind] ?? kind
  );
}

/** What is left to do for a stopped contact (a retried event does only that). */
async function finishSideEffects(
  services: OutreachServices,
  contactId: number,
  out: IngestResult,
): Promise<void> {
  const { db } = services;
  const st = await db.query<{
    state: string;
    event_id: string;
    crm_result: string | null;
    notified_at: Date | null;
    instantly_stopped: boolean;
  }>(
    `SELECT s.state, s.event_id, s.crm_result, s.notified_at,
            coalesce((SELECT detail->>'instantlyStopped' = 'true' FROM outreach_events WHERE id = s.event_id), false) AS instantly_stopped
       FROM outreach_contact_state s WHERE s.contact_id = $1`,
    [contactId],
  );
  const s = st.rows[0];
  if (!s) return;
  const enrollments = await db.query<{ sequence: string; channel: string; sender: string }>(
    'SELECT sequence, channel, sender FROM outreach_enrollments WHERE contact_id = $1 ORDER BY id',
    [contactId],
  );
  const contact = await db.query<{ email: string | null; full_name: string | null }>(
    'SELECT email, full_name FROM contacts WHERE id = $1',
    [contactId],
  );
  const email = contact.rows[0]?.email?.toLowerCase();
  if (!s.instantly_stopped && email && enrollments.rows.some((e) => e.channel === 'instantly')) {
    await services.session('instantly').stopAddress!(email);
    await db.query(
      `UPDATE outreach_events SET detail = detail || '{"instantlyStopped": true}'::jsonb WHERE id = $1`,
      [s.event_id],
    );
  }
  if (s.state !== 'replied') return;
  const ev = await db.query<{
    detail: { text?: string; subject?: string };
    provider: string;
    occurred_at: Date;
  }>('SELECT detail, provider, occurred_at FROM outreach_events WHERE id = $1', [s.event_id]);
  const reply = ev.rows[0];
  const text = reply?.detail.text?.trim() || '(no text)';
  for (const e of enrollments.rows) {
    const def = await services.loadSequence(e.sequence).catch(() => undefined);
    if (!def) continue;
    if (def.spec.crm && s.crm_result === null) {
      let result: string;
      try {
        result = await updateCrmOnReply(db, services.env, {
          sync: def.spec.crm.sync,
          status: def.spec.crm.reply_status,
          contactId,
          comment: `Replied to "${def.name}" (${reply?.provider ?? 'email'}, ${reply?.occurred_at.toISOString() ?? ''}):\n\n${text}`,
        });
      } catch (err) {
        // retryable: the hook processor retries the event, and only this is left to do
        if (err instanceof SluiceError && (err.errorClass === 'retryable' || err.errorClass === 'throttled'))
          throw err;
        result = `failed: ${(err as Error).message}`;
      }
      await db.query(
        'UPDATE outreach_contact_state SET crm_result = $2, updated_at = now() WHERE contact_id = $1',
        [contactId, result],
      );
      s.crm_result = result;
      out.crm = result;
    }
    if (def.spec.notify && s.notified_at === null) {
      const payload = {
        contact_id: contactId,
        contact: contact.rows[0]?.full_name ?? email,
        email,
        sequence: def.name,
        rep: e.sender,
        reply: text.slice(0, 2_000),
      };
      await db.transaction(async (tx) => {
        if (def.spec.notify?.webhook) {
          const { endpoint } = await ensureEndpoint(
            tx,
            def.spec.notify.webhook,
            `outreach ${def.name} replies`,
          );
          await enqueueDelivery(tx, { endpointId: endpoint.id, eventType: 'outreach.replied', payload });
        }
        await tx.query('UPDATE outreach_contact_state SET notified_at = now() WHERE contact_id = $1', [
          contactId,
        ]);
      });
      if (def.spec.notify.email)
        await services.session('sendgrid').send!({
          sendKey: `notify:${contactId}`,
          to: { email: e.sender },
          from: { email: e.sender, name: 'Sluice' },
          subject: `Reply from ${payload.contact} (${def.name})`,
          text: `${payload.contact} <${email}> replied:\n\n${payload.reply}`,
          headers: {},
        }).catch((err: unknown) =>
          services.log(`rep email for contact ${contactId}: ${(err as Error).message}`),
        );
      s.notified_at = new Date();
      out.notified = true;
    }
  }
}
