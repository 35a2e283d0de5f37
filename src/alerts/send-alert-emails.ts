import type { Db } from '../db/db.ts';
import { CriticalError, RetryableError, ThrottledError } from '../errors.ts';
import { connectEmailProvider } from '../outreach/email-client.ts';
import type { EmailSession } from '../outreach/email-provider.ts';
import { getEmailProvider } from '../outreach/registry.ts';

/**
 * Sends the alert emails checkAlerts left pending, through the email port of src/outreach (a `message`
 * tool: SendGrid's mail/send, with its limiter, throttle handling and error mapping). The notification row
 * is the outbox, as for sequence steps (run-due-steps.ts): it is claimed (`unconfirmed`) before the call,
 * so an answer lost, or a process killed mid-send, is looked up by its send key (`alert:RULE:SIGNAL`, in
 * SendGrid's custom_args) before anything is sent again, and nobody gets the same alert twice.
 * A refused message is `failed` with the tool's reason and never retried; a throttle or a missing key
 * leaves it pending for the next pass (the key's absence is raised: nothing can be sent).
 */
export interface AlertEmailResult {
  sent: number;
  failed: number;
  /** Attempted, answer unknown: looked up on the next pass. */
  unconfirmed: number;
  /** Still pending (throttled, or past this pass's limit). */
  pending: number;
}

export interface AlertEmailOptions {
  /** The connected email tool of a provider id. Default: connected from `env` (keys, base URLs). */
  session?: (provider: string) => EmailSession;
  env?: Readonly<Record<string, string | undefined>>;
  fetch?: typeof fetch;
  /** Notifications handled per pass. Default 200. */
  limit?: number;
}

interface Due {
  rule_id: number;
  signal_key: string;
  email_state: 'pending' | 'unconfirmed';
  email_subject: string;
  email_text: string;
  email_attempted_at: Date | null;
  email_attempts: number;
  email_to: string;
  email_from: string;
  email_provider: string;
}

export async function sendAlertEmails(db: Db, options: AlertEmailOptions = {}): Promise<AlertEmailResult> {
  const sessions = new Map<string, EmailSession>();
  const session =
    options.session ??
    ((id: string) => {
      let s = sessions.get(id);
      if (!s) {
        s = connectEmailProvider(getEmailProvider(id), {
          db,
          env: options.env ?? {},
          ...(options.fetch ? { fetch: options.fetch } : {}),
        });
        sessions.set(id, s);
      }
      return s;
    });
  const due = await db.query<Due>(
    `SELECT n.rule_id, n.signal_key, n.email_state, n.email_subject, n.email_text, n.email_attempted_at, n.email_attempts,
            r.email_to, r.email_from, r.email_provider
       FROM alert_notifications n JOIN alert_rules r ON r.id = n.rule_id
      WHERE n.email_state IN ('pending', 'unconfirmed') AND r.channel = 'email'
      ORDER BY n.created_at, n.rule_id, n.signal_key LIMIT $1`,
    [options.limit ?? 200],
  );
  const out: AlertEmailResult = { sent: 0, failed: 0, unconfirmed: 0, pending: 0 };
  const set = (n: Due, fields: string, values: unknown[]) =>
    db.query(`UPDATE alert_notifications SET ${fields} WHERE rule_id = $1 AND signal_key = $2`, [
      n.rule_id,
      n.signal_key,
      ...values,
    ]);
  for (const n of due.rows) {
    const s = session(n.email_provider);
    const sendKey = `alert:${n.rule_id}:${n.signal_key}`;
    if (n.email_state === 'unconfirmed') {
      const found = s.lookupSend
        ? await s.lookupSend(sendKey, n.email_attempted_at ?? new Date(0))
        : ({ found: 'unknown' } as const);
      if (found.found === true) {
        await set(n, `email_state = 'sent', email_message_id = $3, email_error = NULL`, [found.messageId]);
        out.sent++;
        continue;
      }
      if (found.found === 'unknown') {
        out.unconfirmed++;
        continue;
      }
      // not sent after all: send it now
    }
    // claim before the call; a second process's claim of the same row matches nothing
    const claim = await db.query(
      `UPDATE alert_notifications SET email_state = 'unconfirmed', email_attempts = email_attempts + 1,
              email_attempted_at = now()
        WHERE rule_id = $1 AND signal_key = $2 AND email_state = $3
          AND email_attempts = $4`,
      [n.rule_id, n.signal_key, n.email_state, n.email_attempts],
    );
    if (!claim.rowCount) continue;
    try {
      if (!s.send) throw new CriticalError(`${n.email_provider} cannot send single messages`);
      const r = await s.send({
        sendKey,
        to: { email: n.email_to },
        from: { email: n.email_from },
        subject: n.email_subject,
        text: n.email_text,
        headers: {},
        categories: ['sluice-alert'],
      });
      await set(n, `email_state = 'sent', email_message_id = $3, email_error = NULL`, [r.messageId]);
      out.sent++;
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof RetryableError) {
        // it may have gone out: looked up before any new attempt
        await set(n, 'email_error = $3', [message]);
        out.unconfirmed++;
      } else if (err instanceof CriticalError) {
        await set(n, `email_state = 'failed', email_error = $3`, [message]);
        out.failed++;
      } else {
        // throttled past the wait, a missing key, the database: not sent, so pending again
        await set(n, `email_state = 'pending', email_error = $3`, [message]);
        out.pending++;
        if (!(err instanceof ThrottledError)) throw err;
      }
    }
  }
  const left = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM alert_notifications WHERE email_state = 'pending'`,
  );
  out.pending = left.rows[0]!.n;
  return out;
}
