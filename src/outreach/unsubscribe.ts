import { ingestEmailEvent } from './ingest-event.ts';
import type { OutreachServices } from './outreach-services.ts';
import { verifyUnsubscribeToken } from './unsubscribe-token.ts';

/**
 * Sluice's own unsubscribe link (docs/outreach.md "Unsubscribe"): `GET /unsubscribe/<token>` only looks
 * (a confirmation page: mail scanners follow links, and a GET must change nothing), `POST` unsubscribes
 * (the page's button, or the mailbox's RFC 8058 one-click POST of `List-Unsubscribe=One-Click`).
 * Unsubscribing is an `unsubscribe` event through `ingestEmailEvent`, like one from SendGrid or
 * Instantly: the address goes on the global suppression list, every active sequence of the contact
 * stops on every channel (Instantly's blocklist too), and a second click is a duplicate that changes
 * nothing. A malformed, forged or expired token, or one for a contact that no longer exists, is refused
 * and changes nothing.
 */
export type UnsubscribeCheck =
  | { ok: true; contactId: number; sequence: string; email: string; unsubscribed: boolean }
  | { ok: false; status: 400 | 403 | 404 | 410; message: string };

export const UNSUBSCRIBE_PROVIDER = 'sluice';

const STATUS = { malformed: 400, forged: 403, expired: 410 } as const;

export async function checkUnsubscribe(services: OutreachServices, token: string): Promise<UnsubscribeCheck> {
  const check = verifyUnsubscribeToken(token, await services.secret());
  if (!check.ok) return { ok: false, status: STATUS[check.reason], message: check.message };
  const { contactId, sequence } = check.claim;
  const r = await services.db.query<{ email: string | null; suppressed: boolean }>(
    `SELECT c.email, EXISTS (SELECT 1 FROM outreach_suppressions s WHERE s.email = lower(c.email)) AS suppressed
       FROM contacts c WHERE c.id = $1`,
    [contactId],
  );
  const row = r.rows[0];
  if (!row?.email)
    return {
      ok: false,
      status: 404,
      message: 'the person this link was sent to is no longer in this address book: nothing to unsubscribe',
    };
  return { ok: true, contactId, sequence, email: row.email.toLowerCase(), unsubscribed: row.suppressed };
}

export type UnsubscribeResult =
  | { ok: true; email: string; already: boolean; stopped: number; warning?: string }
  | { ok: false; status: 400 | 403 | 404 | 410; message: string };

export async function unsubscribeByToken(
  services: OutreachServices,
  token: string,
  now: Date = new Date(),
): Promise<UnsubscribeResult> {
  const c = await checkUnsubscribe(services, token);
  if (!c.ok) return c;
  try {
    const r = await ingestEmailEvent(services, {
      provider: UNSUBSCRIBE_PROVIDER,
      // one unsubscribe per contact: a second click (or the one-click POST after the page's) is a duplicate
      key: `unsubscribe:${c.contactId}`,
      kind: 'unsubscribe',
      email: c.email,
      contactId: c.contactId,
      occurredAt: now,
      subject: `unsubscribe link of ${c.sequence}`,
      providerKind: 'list_unsubscribe',
    });
    return { ok: true, email: c.email, already: r.duplicate || c.unsubscribed, stopped: r.stopped ?? 0 };
  } catch (err) {
    // the suppression and the stops are committed before the side effects (Instantly's blocklist):
    // once the address is suppressed the person is unsubscribed, whatever failed after
    const after = await checkUnsubscribe(services, token);
    if (after.ok && after.unsubscribed)
      return {
        ok: true,
        email: c.email,
        already: false,
        stopped: 0,
        warning: `unsubscribed, but a follow-up step failed: ${(err as Error).message}`,
      };
    throw err;
  }
}

/** `ab•••@example.com`: enough for the person to recognise the address, not enough to harvest it. */
export function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, Math.min(2, Math.max(1, local.length - 1)))}•••@${domain}`;
}
