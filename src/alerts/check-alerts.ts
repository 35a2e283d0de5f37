import type { Db } from '../db/db.ts';
import { enqueueDelivery } from '../webhooks/webhook-store.ts';
import { type AlertRule, listRules } from './alert-rules.ts';
import { SIGNAL_DEFINITIONS, type Signal } from './signals.ts';

/**
 * One pass over every rule: new signals are read from their sources, matched against the rule's account
 * fields, and each match becomes a Slack message in the outbound webhook outbox (sent, retried and
 * recorded by the delivery worker of `sluice serve`) or a pending email on its notification row (sent
 * by `sendAlertEmails` after this commits). The notification row, the delivery and the rule's
 * cursor are written in one transaction, so a signal is notified once even when two checks run at once
 * (the second's notification insert conflicts and sends nothing). A signal that does not match is
 * recorded with no delivery, so it is not read again.
 */
export interface CheckResult {
  rule: string;
  signals: number;
  notified: number;
}

/** Signals read per rule and pass; the rest wait for the next pass. */
export const SIGNALS_PER_PASS = 500;

export function matches(rule: Pick<AlertRule, 'match'>, s: Signal): boolean {
  const entries = Object.entries(rule.match);
  if (!entries.length) return true;
  if (!s.account) return false;
  return entries.every(([k, v]) => {
    const have = s.account?.[k];
    return have !== null && have !== undefined && String(have).toLowerCase() === v.toLowerCase();
  });
}

/** What happened, in words: `Ann Green (GM) at Pine Valley changed jobs (freshness check)`. */
export function alertText(rule: Pick<AlertRule, 'signal'>, s: Signal): string {
  const who = s.contact
    ? `${s.contact.name ?? s.contact.email ?? `contact ${s.contact.id}`}${s.contact.title ? ` (${s.contact.title})` : ''}`
    : 'someone';
  const where = s.account
    ? ` at ${String(s.account.name ?? s.account.domain ?? `account ${String(s.account.id)}`)}`
    : '';
  const what =
    rule.signal === 'job_change'
      ? `${who}${where} changed jobs (freshness check)`
      : rule.signal === 'visitor'
        ? `${who}${where} visited the website (RB2B)`
        : `${who}${where} replied to outreach`;
  return what;
}

export function slackMessage(rule: AlertRule, s: Signal): { text: string } {
  return { text: `:rotating_light: ${alertText(rule, s)} · rule ${rule.name} · ${s.at}` };
}

/** The email of an alert: a short subject, the same words and where they came from in the body. */
export function alertEmail(rule: AlertRule, s: Signal): { subject: string; text: string } {
  const what = alertText(rule, s);
  return {
    subject: `Sluice alert: ${what.length > 120 ? `${what.slice(0, 119)}…` : what}`,
    text: `${what}.\n\nRule: ${rule.name} (${rule.signal}${
      Object.keys(rule.match).length
        ? `, where ${Object.entries(rule.match)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`
        : ''
    })\nWhen: ${s.at}\n\nSent by Sluice (\`sluice alerts remove ${rule.name}\` stops these).\n`,
  };
}

export async function checkAlerts(db: Db, options: { rule?: string } = {}): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const rule of await listRules(db)) {
    if (options.rule && rule.name !== options.rule) continue;
    const signals = await SIGNAL_DEFINITIONS[rule.signal].read(db, rule, SIGNALS_PER_PASS);
    let notified = 0;
    await db.transaction(async (tx) => {
      for (const s of signals) {
        const ins = await tx.query(
          `INSERT INTO alert_notifications (rule_id, signal_key) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [rule.id, s.key],
        );
        if (!ins.rowCount || !matches(rule, s)) continue;
        if (rule.channel === 'email') {
          // the email's outbox row: sent after the commit by sendAlertEmails
          const m = alertEmail(rule, s);
          await tx.query(
            `UPDATE alert_notifications SET email_state = 'pending', email_subject = $3, email_text = $4
              WHERE rule_id = $1 AND signal_key = $2`,
            [rule.id, s.key, m.subject, m.text],
          );
          notified++;
          continue;
        }
        const d = await enqueueDelivery(tx, {
          endpointId: rule.endpointId!,
          eventType: `alert.${rule.signal}`,
          payload: slackMessage(rule, s),
        });
        await tx.query(
          'UPDATE alert_notifications SET delivery_id = $3 WHERE rule_id = $1 AND signal_key = $2',
          [rule.id, s.key, d.id],
        );
        notified++;
      }
      const last = Math.max(rule.cursor, ...signals.map((s) => s.position ?? 0));
      if (last > rule.cursor)
        await tx.query('UPDATE alert_rules SET cursor = greatest(cursor, $2) WHERE id = $1', [rule.id, last]);
    });
    out.push({ rule: rule.name, signals: signals.length, notified });
  }
  return out;
}
