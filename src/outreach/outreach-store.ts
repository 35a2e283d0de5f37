import type { Queryable } from '../db/db.ts';
import { flattenRow } from '../records/read-records.ts';
import type { Scope } from './render-message.ts';

/** SQL of the outreach tables (migrations/0030_outreach.sql), one place per statement. */

export async function loadScopes(db: Queryable, contactIds: number[]): Promise<Map<number, Scope>> {
  const out = new Map<number, Scope>();
  if (contactIds.length === 0) return out;
  const r = await db.query<Record<string, unknown>>(
    `SELECT row_to_json(c.*) AS c, row_to_json(a.*) AS a
       FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.id = ANY($1::bigint[])`,
    [contactIds],
  );
  for (const row of r.rows) {
    const contact = flattenRow(row.c as Record<string, unknown>);
    out.set(Number(contact.id), {
      contact,
      account: row.a ? flattenRow(row.a as Record<string, unknown>) : null,
    });
  }
  return out;
}

export async function suppressedEmails(db: Queryable, emails: string[]): Promise<Set<string>> {
  if (emails.length === 0) return new Set();
  const r = await db.query<{ email: string }>(
    'SELECT email FROM outreach_suppressions WHERE email = ANY($1::text[])',
    [emails.map((e) => e.toLowerCase())],
  );
  return new Set(r.rows.map((x) => x.email));
}

export async function stoppedContacts(db: Queryable, ids: number[]): Promise<Map<number, string>> {
  const r = await db.query<{ contact_id: string; state: string }>(
    'SELECT contact_id, state FROM outreach_contact_state WHERE contact_id = ANY($1::bigint[])',
    [ids],
  );
  return new Map(r.rows.map((x) => [Number(x.contact_id), x.state]));
}

export async function addSuppression(
  db: Queryable,
  email: string,
  reason: string,
  source: string,
): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO outreach_suppressions (email, reason, source) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING`,
    [email.toLowerCase(), reason, source],
  );
  return r.rowCount > 0;
}

export interface SequenceRow {
  name: string;
  channel: string;
  paused: boolean;
  campaigns: Record<string, string>;
}

export async function ensureSequenceRow(db: Queryable, name: string, channel: string): Promise<SequenceRow> {
  await db.query(
    'INSERT INTO outreach_sequences (name, channel) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
    [name, channel],
  );
  return (await sequenceRow(db, name))!;
}

export async function sequenceRow(
  db: Queryable,
  name: string,
  lock = false,
): Promise<SequenceRow | undefined> {
  const r = await db.query<SequenceRow>(
    `SELECT name, channel, paused, campaigns FROM outreach_sequences WHERE name = $1${lock ? ' FOR UPDATE' : ''}`,
    [name],
  );
  return r.rows[0];
}

export async function setPaused(db: Queryable, name: string, paused: boolean): Promise<void> {
  await db.query('UPDATE outreach_sequences SET paused = $2, updated_at = now() WHERE name = $1', [
    name,
    paused,
  ]);
}
