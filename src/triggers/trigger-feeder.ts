import type { Db } from '../db/db.ts';
import { selectAccountsSql } from '../engine/selection.ts';
import { startJob } from '../jobs/job-store.ts';
import { type PollLoop, startPollLoop } from '../queue/poll-loop.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import { contactFilterSql } from '../records/contact-filter.ts';
import { ensureEndpoint } from '../webhooks/webhook-store.ts';
import type { TriggerRule } from './trigger-config.ts';

/** Record events claimed per tick. */
const CHUNK = 500;

/**
 * Switches the database triggers on (rules exist) or off (none). Left on when the server stops, so rows
 * inserted while no server runs wait in record_events for the next start.
 */
export async function setTriggersEnabled(db: Db, enabled: boolean): Promise<void> {
  await db.query('UPDATE trigger_settings SET enabled = $1', [enabled]);
}

/**
 * Matches created records against the rules: claims a chunk of record_events (lease, SKIP LOCKED),
 * keeps the records each rule's `where` accepts, starts one job per rule for them (a contact rule runs
 * the pipeline on the contact's account), then deletes the events. A crash between the job and the
 * delete starts the job again for those records (memoized steps and the cache make that cheap); it never
 * loses one.
 */
export function startTriggerFeeder(
  db: Db,
  queue: QueueDriver,
  rules: TriggerRule[],
  options: {
    intervalMs?: number;
    onJob?: (rule: string, jobId: string, records: number) => void;
    /**
     * Starts an outreach sequence for contacts (rules with `sequence:`); the server passes outreach's
     * `startSequenceFor`. Without it such rules are an error.
     */
    startSequence?: (sequence: string, contactIds: number[], rule: string) => Promise<void>;
    onError?: (err: unknown) => void;
  } = {},
): PollLoop {
  const tick = async () => {
    const r = await db.query<{ id: number; event: string; entity_id: number }>(
      `WITH c AS (
         SELECT id FROM record_events WHERE claimed_until IS NULL OR claimed_until < now()
          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE record_events e SET claimed_until = now() + interval '120 seconds' FROM c WHERE e.id = c.id
       RETURNING e.id, e.event, e.entity_id`,
      [CHUNK],
    );
    if (r.rows.length === 0) return false;
    for (const rule of rules) {
      const ids = [...new Set(r.rows.filter((e) => e.event === rule.on).map((e) => e.entity_id))];
      if (ids.length === 0) continue;
      if (rule.sequence) {
        const contacts = await matchContacts(db, ids, rule.where);
        if (contacts.length === 0) continue;
        if (!options.startSequence)
          throw new Error(`rule ${rule.name}: no outreach is wired to start sequences`);
        await options.startSequence(rule.sequence, contacts, rule.name);
        continue;
      }
      const accounts =
        rule.on === 'account.created'
          ? await matchAccounts(db, ids, rule.where)
          : await matchContactAccounts(db, ids, rule.where);
      if (accounts.length === 0) continue;
      const endpointId = rule.notify
        ? (await ensureEndpoint(db, rule.notify, `trigger rule ${rule.name}`)).endpoint.id
        : undefined;
      const job = await startJob(db, queue, {
        kind: 'rule',
        pipeline: rule.pipeline!,
        selection: { ids: accounts },
        rule: rule.name,
        request: { rule: rule.name, event: rule.on, records: ids },
        ...(endpointId !== undefined ? { endpointId } : {}),
        ...(rule.budget_usd !== undefined ? { budgetUsd: rule.budget_usd } : {}),
      });
      options.onJob?.(rule.name, job.id, accounts.length);
    }
    await db.query('DELETE FROM record_events WHERE id = ANY($1::bigint[])', [r.rows.map((e) => e.id)]);
    return r.rows.length === CHUNK;
  };
  return startPollLoop(tick, { intervalMs: options.intervalMs ?? 1000, onError: options.onError });
}

/** The contacts (of a contact event) that pass `where`. */
async function matchContacts(db: Db, ids: number[], where: string | undefined): Promise<number[]> {
  const params: unknown[] = [ids];
  const clauses = ['id = ANY($1::bigint[])', ...contactFilterSql(where, params)];
  const r = await db.query<{ id: number }>(
    `SELECT id FROM contacts WHERE ${clauses.join(' AND ')} ORDER BY id`,
    params,
  );
  return r.rows.map((row) => Number(row.id));
}

async function matchAccounts(db: Db, ids: number[], where: string | undefined): Promise<number[]> {
  const sql = selectAccountsSql({ ids, ...(where ? { where } : {}) }, 1);
  return (await db.query<{ id: number }>(sql.text, sql.params)).rows.map((r) => r.id);
}

/** Accounts of the created contacts that pass `where` (on contact fields), same grammar as accounts. */
async function matchContactAccounts(db: Db, ids: number[], where: string | undefined): Promise<number[]> {
  const params: unknown[] = [ids];
  const clauses = ['id = ANY($1::bigint[])', 'account_id IS NOT NULL', ...contactFilterSql(where, params)];
  const r = await db.query<{ account_id: number }>(
    `SELECT DISTINCT account_id FROM contacts WHERE ${clauses.join(' AND ')} ORDER BY account_id`,
    params,
  );
  return r.rows.map((row) => row.account_id);
}
