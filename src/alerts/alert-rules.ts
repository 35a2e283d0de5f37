import type { Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { emailProviders, getEmailProvider } from '../outreach/registry.ts';
import { callbackUrlProblem } from '../webhooks/send-webhook.ts';
import { ensureEndpoint } from '../webhooks/webhook-store.ts';
import { SIGNAL_DEFINITIONS, SIGNALS, type SignalKind } from './signals.ts';

/**
 * Alert rules: a signal, an optional account match, and where the alert goes: a Slack incoming webhook
 * (an outbound endpoint: the webhook outbox delivers it) or an email address (sent through a `message`
 * email tool of src/outreach, SendGrid, by send-alert-emails.ts).
 */
export interface AlertRule {
  id: number;
  name: string;
  signal: SignalKind;
  match: Record<string, string>;
  channel: 'slack' | 'email';
  /** Slack: the outbound endpoint and its URL (Slack's secret: never printed). */
  endpointId: number | null;
  url: string | null;
  /** Email: recipient, sender and the email tool's id. */
  emailTo: string | null;
  emailFrom: string | null;
  emailProvider: string | null;
  cursor: number;
  createdAt: string;
}

export interface NewRule {
  name: string;
  signal: string;
  match?: Record<string, string>;
  /** A Slack incoming webhook URL; or `email`, not both. */
  slackUrl?: string;
  /** An address to email, the sender address, and the email tool (default `sendgrid`). */
  email?: { to: string; from: string; provider?: string };
}

const SELECT = `SELECT r.id, r.name, r.signal, r.match, r.channel, r.endpoint_id AS "endpointId", e.url,
                       r.email_to AS "emailTo", r.email_from AS "emailFrom", r.email_provider AS "emailProvider",
                       r.cursor, r.created_at::text AS "createdAt"
                  FROM alert_rules r LEFT JOIN webhook_endpoints e ON e.id = r.endpoint_id`;

const ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

export async function addRule(db: Queryable, rule: NewRule): Promise<AlertRule> {
  if (!(SIGNALS as readonly string[]).includes(rule.signal))
    throw new ConfigError(`unknown signal "${rule.signal}" (one of ${SIGNALS.join(', ')})`, { exitCode: 2 });
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(rule.name))
    throw new ConfigError(`rule name "${rule.name}" must be lowercase letters, digits, ".", "_" or "-"`, {
      exitCode: 2,
    });
  if (!rule.slackUrl === !rule.email)
    throw new ConfigError('an alert rule needs one channel: --slack URL or --email ADDRESS', { exitCode: 2 });
  const signal = rule.signal as SignalKind;
  const cursor = await SIGNAL_DEFINITIONS[signal].start(db);
  let r: { rows: { id: number }[] };
  if (rule.slackUrl) {
    // https, then the same check as every webhook URL; the address it resolves to is checked on every send
    const problem = /^https:\/\//i.test(rule.slackUrl)
      ? callbackUrlProblem(rule.slackUrl)
      : 'must be an https:// URL (a Slack incoming webhook)';
    if (problem) throw new ConfigError(`--slack ${problem}`, { exitCode: 2 });
    const { endpoint } = await ensureEndpoint(db, rule.slackUrl, `alerts: ${rule.name}`);
    r = await db.query<{ id: number }>(
      `INSERT INTO alert_rules (name, signal, match, channel, endpoint_id, cursor)
       VALUES ($1, $2, $3, 'slack', $4, $5) ON CONFLICT (name) DO NOTHING RETURNING id`,
      [rule.name, signal, JSON.stringify(rule.match ?? {}), endpoint.id, cursor],
    );
  } else {
    const e = rule.email!;
    for (const [flag, v] of [
      ['--email', e.to],
      ['--from', e.from],
    ] as const)
      if (!ADDRESS.test(v)) throw new ConfigError(`${flag} "${v}" is not an email address`, { exitCode: 2 });
    const provider = e.provider ?? 'sendgrid';
    const def = getEmailProvider(provider);
    if (def.mode !== 'message')
      throw new ConfigError(
        `--email-provider ${provider} sends campaigns, not single messages; use one of ${emailProviders
          .filter((p) => p.mode === 'message')
          .map((p) => p.id)
          .join(', ')}`,
        { exitCode: 2 },
      );
    r = await db.query<{ id: number }>(
      `INSERT INTO alert_rules (name, signal, match, channel, email_to, email_from, email_provider, cursor)
       VALUES ($1, $2, $3, 'email', $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING id`,
      [rule.name, signal, JSON.stringify(rule.match ?? {}), e.to.toLowerCase(), e.from, provider, cursor],
    );
  }
  if (!r.rows[0])
    throw new ConfigError(
      `an alert rule named "${rule.name}" exists (remove it first: \`sluice alerts remove ${rule.name}\`)`,
      {
        exitCode: 2,
      },
    );
  return (await listRules(db)).find((x) => x.id === r.rows[0]!.id)!;
}

export async function listRules(db: Queryable): Promise<AlertRule[]> {
  return (await db.query<AlertRule>(`${SELECT} ORDER BY r.id`)).rows;
}

export async function removeRule(db: Queryable, name: string): Promise<boolean> {
  return (await db.query('DELETE FROM alert_rules WHERE name = $1', [name])).rowCount > 0;
}
