import type { Queryable } from '../db/db.ts';

/**
 * Timing signals, read from where other layers record them (never written here): one definition per
 * signal, each a single query over its source table. Every signal names its account (for a rule's
 * `match`) as one JSON document: the account's columns with its attributes merged in.
 * - job_change: a freshness check found the contact changed roles (`freshness_checks.outcome = changed`);
 * - visitor: an RB2B visit the hook processor recorded (`hook_events`, source rb2b, processed);
 * - reply: a reply to an outreach email (`outreach_events.kind = reply`).
 */
export type SignalKind = 'job_change' | 'visitor' | 'reply';
export const SIGNALS: readonly SignalKind[] = ['job_change', 'visitor', 'reply'];

export interface Signal {
  /** Unique per source row: a rule notifies once per key. */
  key: string;
  /** The source's id for id-ordered sources (the rule's cursor moves past it), else null. */
  position: number | null;
  at: string;
  contact: { id: number; name: string | null; email: string | null; title: string | null } | null;
  account: Record<string, unknown> | null;
  detail: Record<string, unknown>;
}

export interface SignalDefinition {
  kind: SignalKind;
  description: string;
  /** The cursor a new rule starts at, so it alerts on what happens from now on, not on history. */
  start(db: Queryable): Promise<number>;
  read(
    db: Queryable,
    rule: { id: number; cursor: number; createdAt: string },
    limit: number,
  ): Promise<Signal[]>;
}

const ACCOUNT = `CASE WHEN a.id IS NULL THEN NULL ELSE (to_jsonb(a) - 'attributes') || a.attributes END AS account`;
const CONTACT = `CASE WHEN c.id IS NULL THEN NULL ELSE jsonb_build_object('id', c.id,
  'name', coalesce(c.full_name, nullif(concat_ws(' ', c.first_name, c.last_name), '')), 'email', c.email,
  'title', c.title) END AS contact`;

export const SIGNAL_DEFINITIONS: Record<SignalKind, SignalDefinition> = {
  job_change: {
    kind: 'job_change',
    description: 'a freshness check found that a contact changed jobs',
    start: async () => 0,
    // freshness_checks has no id: checks after the rule was made, each once (alert_notifications)
    async read(db, rule, limit) {
      const r = await db.query<Signal>(
        `SELECT 'freshness:' || f.pass_id || ':' || f.contact_id AS key, NULL::bigint AS position,
                f.checked_at::text AS at, ${CONTACT}, ${ACCOUNT},
                jsonb_build_object('evidence', f.evidence, 'replacement_contact_id', f.replacement_contact_id) AS detail
           FROM freshness_checks f LEFT JOIN contacts c ON c.id = f.contact_id
                LEFT JOIN accounts a ON a.id = coalesce(f.account_id, c.account_id)
          WHERE f.outcome = 'changed' AND f.checked_at >= $1::timestamptz
            AND NOT EXISTS (SELECT 1 FROM alert_notifications n
                             WHERE n.rule_id = $2 AND n.signal_key = 'freshness:' || f.pass_id || ':' || f.contact_id)
          ORDER BY f.checked_at, f.pass_id, f.contact_id LIMIT $3`,
        [rule.createdAt, rule.id, limit],
      );
      return r.rows;
    },
  },
  visitor: {
    kind: 'visitor',
    description: 'an RB2B website visitor was recorded',
    start: async (db) =>
      (
        await db.query<{ m: number }>(
          `SELECT coalesce(max(id), 0)::bigint AS m FROM hook_events WHERE source = 'rb2b'`,
        )
      ).rows[0]!.m,
    async read(db, rule, limit) {
      const r = await db.query<Signal>(
        `SELECT 'rb2b:' || h.id AS key, h.id AS position, h.received_at::text AS at, ${CONTACT}, ${ACCOUNT},
                jsonb_build_object('hook_event', h.id) AS detail
           FROM hook_events h
                LEFT JOIN contacts c ON c.id = (h.result->'contact'->>'id')::bigint
                LEFT JOIN accounts a ON a.id = coalesce((h.result->'account'->>'id')::bigint, c.account_id)
          WHERE h.source = 'rb2b' AND h.state = 'processed' AND h.id > $1
          ORDER BY h.id LIMIT $2`,
        [rule.cursor, limit],
      );
      return r.rows;
    },
  },
  reply: {
    kind: 'reply',
    description: 'a contact replied to an outreach email',
    start: async (db) =>
      (
        await db.query<{ m: number }>(
          `SELECT coalesce(max(id), 0)::bigint AS m FROM outreach_events WHERE kind = 'reply'`,
        )
      ).rows[0]!.m,
    async read(db, rule, limit) {
      const r = await db.query<Signal>(
        `SELECT 'reply:' || e.id AS key, e.id AS position, e.occurred_at::text AS at, ${CONTACT}, ${ACCOUNT},
                jsonb_build_object('provider', e.provider, 'email', e.email) AS detail
           FROM outreach_events e LEFT JOIN contacts c ON c.id = e.contact_id
                LEFT JOIN accounts a ON a.id = c.account_id
          WHERE e.kind = 'reply' AND e.id > $1
          ORDER BY e.id LIMIT $2`,
        [rule.cursor, limit],
      );
      return r.rows;
    },
  },
};
