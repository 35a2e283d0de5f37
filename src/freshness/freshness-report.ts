import type { Queryable } from '../db/db.ts';

export interface PassSummary {
  id: number;
  state: string;
  days: number;
  startedAt: Date;
  finishedAt: Date | null;
  selected: number;
  verified: number;
  changed: number;
  bounced: number;
  unknown: number;
  failed: number;
  replaced: number;
  costUsd: number;
  error: string | null;
}

export interface CheckDetail {
  contactId: number;
  name: string | null;
  account: string | null;
  outcome: string;
  emailStatus: string | null;
  evidence: Record<string, unknown>;
  replacement: { id: number; name: string | null; email: string | null } | null;
}

/** The newest passes with their counts (from `freshness_checks`, so a pass cut short counts what it did). */
export async function listPasses(db: Queryable, limit = 10): Promise<PassSummary[]> {
  const r = await db.query<Record<string, unknown>>(
    `SELECT p.*,
            count(*) FILTER (WHERE k.outcome = 'verified')::int AS verified,
            count(*) FILTER (WHERE k.outcome = 'changed')::int AS changed,
            count(*) FILTER (WHERE k.outcome = 'bounced')::int AS bounced,
            count(*) FILTER (WHERE k.outcome = 'unknown')::int AS unknown,
            count(*) FILTER (WHERE k.outcome = 'failed')::int AS failed,
            count(k.replacement_contact_id)::int AS replaced
       FROM freshness_passes p LEFT JOIN freshness_checks k ON k.pass_id = p.id
      GROUP BY p.id ORDER BY p.id DESC LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({
    id: Number(x.id),
    state: String(x.state),
    days: Number(x.days),
    startedAt: new Date(x.started_at as string),
    finishedAt: x.finished_at ? new Date(x.finished_at as string) : null,
    selected: Number(x.selected),
    verified: Number(x.verified),
    changed: Number(x.changed),
    bounced: Number(x.bounced),
    unknown: Number(x.unknown),
    failed: Number(x.failed),
    replaced: Number(x.replaced),
    costUsd: Number(x.cost_usd),
    error: (x.error as string | null) ?? null,
  }));
}

/** A pass's changed and bounced contacts with their evidence and replacements. */
export async function passChanges(db: Queryable, passId: number): Promise<CheckDetail[]> {
  const r = await db.query<Record<string, unknown>>(
    `SELECT k.contact_id, c.full_name, a.name AS account, k.outcome, k.email_status, k.evidence,
            n.id AS new_id, n.full_name AS new_name, n.email AS new_email
       FROM freshness_checks k
       JOIN contacts c ON c.id = k.contact_id
       LEFT JOIN accounts a ON a.id = k.account_id
       LEFT JOIN contacts n ON n.id = k.replacement_contact_id
      WHERE k.pass_id = $1 AND k.outcome IN ('changed', 'bounced', 'failed')
      ORDER BY k.outcome, k.contact_id`,
    [passId],
  );
  return r.rows.map((x) => ({
    contactId: Number(x.contact_id),
    name: (x.full_name as string | null) ?? null,
    account: (x.account as string | null) ?? null,
    outcome: String(x.outcome),
    emailStatus: (x.email_status as string | null) ?? null,
    evidence: (x.evidence as Record<string, unknown>) ?? {},
    replacement: x.new_id
      ? {
          id: Number(x.new_id),
          name: (x.new_name as string | null) ?? null,
          email: (x.new_email as string | null) ?? null,
        }
      : null,
  }));
}
