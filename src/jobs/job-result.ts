import type { Queryable } from '../db/db.ts';
import { flattenRow } from '../records/read-records.ts';

/** Accounts listed in a finished job's result (the rest are in GET /v1/accounts). */
const MAX_RESULT_RECORDS = 1000;

interface Facts {
  jobId: string;
  batchId: number;
  request: Record<string, unknown>;
  createdAt: Date;
  finishedAt: Date;
}

async function accountsOf(db: Queryable, batchId: number) {
  const r = await db.query<{
    run_state: string;
    cost: number;
    account: Record<string, unknown>;
    contacts: Record<string, unknown>[];
  }>(
    `SELECT r.state AS run_state, r.cost_usd::float8 AS cost, to_jsonb(a) AS account,
            (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]'::jsonb) FROM contacts c WHERE c.account_id = a.id) AS contacts
       FROM runs r JOIN accounts a ON a.id = r.account_id
      WHERE r.batch_id = $1 ORDER BY r.id LIMIT $2`,
    [batchId, MAX_RESULT_RECORDS],
  );
  return r.rows.map((row) => ({
    runState: row.run_state,
    cost: row.cost,
    account: flattenRow(row.account),
    contacts: row.contacts.map(flattenRow),
  }));
}

/** A generic job's result: every account of the batch with its contacts, current values. */
export async function pipelineResult(db: Queryable, f: Facts) {
  const rows = await accountsOf(db, f.batchId);
  return {
    job_id: f.jobId,
    records: rows.map((r) => ({
      run_state: r.runState,
      cost_usd: r.cost,
      account: r.account,
      contacts: r.contacts,
    })),
    total_cost: round(rows.reduce((s, r) => s + r.cost, 0)),
    total_time: (f.finishedAt.getTime() - f.createdAt.getTime()) / 1000,
  };
}

/**
 * The seed's callback body for POST /api/enrich-course: `course` (the account with its course-level
 * intelligence), `contacts` with email, phone, linkedin, segment, segment_confidence, opportunities and
 * conversation_starters, `total_cost` (USD) and `total_time` (seconds). Course-level fields (segment,
 * opportunities, starters) are repeated on each contact, as the seed's receiver reads them there.
 */
export async function enrichCourseResult(db: Queryable, f: Facts) {
  const [row] = await accountsOf(db, f.batchId);
  const course: Record<string, unknown> = row?.account ?? {};
  const opportunities: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(course))
    if (k.startsWith('opportunity_')) opportunities[k.slice(12)] = v;
  const contacts = (row?.contacts ?? []).map((c) => ({
    id: c.id,
    name: c.full_name ?? ([c.first_name, c.last_name].filter(Boolean).join(' ') || null),
    title: c.title ?? null,
    email: c.email ?? null,
    phone: c.phone ?? null,
    linkedin: c.linkedin_url ?? null,
    segment: course.segment ?? null,
    segment_confidence: course.segment_confidence ?? null,
    opportunities,
    conversation_starters: course.conversation_starters ?? [],
    tenure_years: c.tenure_years ?? null,
    previous_clubs: c.previous_clubs ?? [],
  }));
  return {
    job_id: f.jobId,
    status: row?.runState === 'failed' ? 'failed' : 'completed',
    course_id: f.request.course_id ?? null,
    course,
    contacts,
    total_cost: round(row?.cost ?? 0),
    total_time: (f.finishedAt.getTime() - f.createdAt.getTime()) / 1000,
  };
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
