import type { Queryable } from '../db/db.ts';
import { contactFilterSql } from '../records/contact-filter.ts';

/** Read models for `sluice outreach status|events` and `outreachState(contactId)`. */
export interface SequenceStatus {
  sequence: string;
  channel: string;
  paused: boolean;
  enrollments: Record<string, number>;
  stopReasons: Record<string, number>;
  sends: Record<string, number>;
  events: Record<string, number>;
}

export async function outreachStatus(db: Queryable, sequence?: string): Promise<SequenceStatus[]> {
  const seqs = await db.query<{ name: string; channel: string; paused: boolean }>(
    'SELECT name, channel, paused FROM outreach_sequences WHERE $1::text IS NULL OR name = $1 ORDER BY name',
    [sequence ?? null],
  );
  const out: SequenceStatus[] = [];
  for (const s of seqs.rows) {
    const group = async (sql: string) =>
      Object.fromEntries(
        (await db.query<{ k: string; n: number }>(sql, [s.name])).rows.map((r) => [
          r.k ?? 'none',
          Number(r.n),
        ]),
      );
    out.push({
      sequence: s.name,
      channel: s.channel,
      paused: s.paused,
      enrollments: await group(
        'SELECT state AS k, count(*)::int AS n FROM outreach_enrollments WHERE sequence = $1 GROUP BY 1 ORDER BY 1',
      ),
      stopReasons: await group(
        `SELECT stop_reason AS k, count(*)::int AS n FROM outreach_enrollments WHERE sequence = $1 AND state = 'stopped' GROUP BY 1 ORDER BY 2 DESC`,
      ),
      sends: await group(
        'SELECT state AS k, count(*)::int AS n FROM outreach_sends WHERE sequence = $1 GROUP BY 1 ORDER BY 1',
      ),
      events: await group(
        `SELECT ev.kind AS k, count(DISTINCT ev.id)::int AS n FROM outreach_events ev
           JOIN outreach_enrollments e ON e.contact_id = ev.contact_id AND e.sequence = $1 GROUP BY 1 ORDER BY 1`,
      ),
    });
  }
  return out;
}

export interface ContactOutreachState {
  contactId: number;
  /** replied, auto_replied, bounced, unsubscribed, complained; null while nothing stopped it */
  state: string | null;
  suppressed: boolean;
  crmResult: string | null;
  enrollments: {
    sequence: string;
    channel: string;
    state: string;
    nextStep: number;
    nextDueAt: Date | null;
    stopReason: string | null;
  }[];
  sends: { sendKey: string; state: string; sentAt: Date | null }[];
}

/** One contact's outreach: its state, enrollments and sends (for the freshness and funnel layers). */
export async function outreachState(db: Queryable, contactId: number): Promise<ContactOutreachState> {
  const st = await db.query<{ state: string; crm_result: string | null }>(
    'SELECT state, crm_result FROM outreach_contact_state WHERE contact_id = $1',
    [contactId],
  );
  const sup = await db.query(
    'SELECT 1 FROM outreach_suppressions s JOIN contacts c ON lower(c.email) = s.email WHERE c.id = $1',
    [contactId],
  );
  const en = await db.query<{
    sequence: string;
    channel: string;
    state: string;
    next_step: number;
    next_due_at: Date | null;
    stop_reason: string | null;
  }>(
    'SELECT sequence, channel, state, next_step, next_due_at, stop_reason FROM outreach_enrollments WHERE contact_id = $1 ORDER BY id',
    [contactId],
  );
  const sends = await db.query<{ send_key: string; state: string; sent_at: Date | null }>(
    'SELECT send_key, state, sent_at FROM outreach_sends WHERE contact_id = $1 ORDER BY id',
    [contactId],
  );
  return {
    contactId,
    state: st.rows[0]?.state ?? null,
    suppressed: sup.rowCount > 0,
    crmResult: st.rows[0]?.crm_result ?? null,
    enrollments: en.rows.map((r) => ({
      sequence: r.sequence,
      channel: r.channel,
      state: r.state,
      nextStep: r.next_step,
      nextDueAt: r.next_due_at,
      stopReason: r.stop_reason,
    })),
    sends: sends.rows.map((r) => ({ sendKey: r.send_key, state: r.state, sentAt: r.sent_at })),
  };
}

export async function recentEvents(db: Queryable, limit: number) {
  const r = await db.query<{
    provider: string;
    kind: string;
    email: string;
    contact_id: string | null;
    occurred_at: Date;
    detail: { text?: string };
  }>(
    'SELECT provider, kind, email, contact_id, occurred_at, detail FROM outreach_events ORDER BY occurred_at DESC, id DESC LIMIT $1',
    [limit],
  );
  return r.rows;
}

/** Contact ids a `--where` (the grammar of `sluice run`) selects, at most `limit`. */
export async function selectContacts(
  db: Queryable,
  where: string | undefined,
  limit: number,
): Promise<number[]> {
  const params: unknown[] = [];
  const clauses = contactFilterSql(where, params);
  params.push(limit);
  const r = await db.query<{ id: string }>(
    `SELECT id FROM contacts ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}`,
    params,
  );
  return r.rows.map((x) => Number(x.id));
}
