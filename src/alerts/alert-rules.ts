import type { Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { callbackUrlProblem } from '../webhooks/send-webhook.ts';
import { ensureEndpoint } from '../webhooks/webhook-store.ts';
import { SIGNAL_DEFINITIONS, SIGNALS, type SignalKind } from './signals.ts';

/** Alert rules: a signal, an optional account match, and a Slack incoming webhook (an outbound endpoint). */
export interface AlertRule {
  id: number;
  name: string;
  signal: SignalKind;
  match: Record<string, string>;
  channel: 'slack';
  endpointId: number;
  url: string;
  cursor: number;
  createdAt: string;
}

export interface NewRule {
  name: string;
  signal: string;
  match?: Record<string, string>;
  slackUrl: string;
}

const SELECT = `SELECT r.id, r.name, r.signal, r.match, r.channel, r.endpoint_id AS "endpointId", e.url,
                       r.cursor, r.created_at::text AS "createdAt"
                  FROM alert_rules r JOIN webhook_endpoints e ON e.id = r.endpoint_id`;

export async function addRule(db: Queryable, rule: NewRule): Promise<AlertRule> {
  if (!(SIGNALS as readonly string[]).includes(rule.signal))
    throw new ConfigError(`unknown signal "${rule.signal}" (one of ${SIGNALS.join(', ')})`, { exitCode: 2 });
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(rule.name))
    throw new ConfigError(`rule name "${rule.name}" must be lowercase letters, digits, ".", "_" or "-"`, {
      exitCode: 2,
    });
  // https, then the same check as every webhook URL; the address it resolves to is checked on every send
  const problem = /^https:\/\//i.test(rule.slackUrl)
    ? callbackUrlProblem(rule.slackUrl)
    : 'must be an https:// URL (a Slack incoming webhook)';
  if (problem) throw new ConfigError(`--slack ${problem}`, { exitCode: 2 });
  const signal = rule.signal as SignalKind;
  const { endpoint } = await ensureEndpoint(db, rule.slackUrl, `alerts: ${rule.name}`);
  const cursor = await SIGNAL_DEFINITIONS[signal].start(db);
  const r = await db.query<{ id: number }>(
    `INSERT INTO alert_rules (name, signal, match, channel, endpoint_id, cursor)
     VALUES ($1, $2, $3, 'slack', $4, $5) ON CONFLICT (name) DO NOTHING RETURNING id`,
    [rule.name, signal, JSON.stringify(rule.match ?? {}), endpoint.id, cursor],
  );
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
