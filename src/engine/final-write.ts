import type { Queryable } from '../db/db.ts';
import { CriticalError } from '../errors.ts';
import { completePersonName, personNameKey } from '../normalize/person-name.ts';
import { type FieldObservation, writeFieldValues } from '../records/field-values.ts';
import type { ContactView, FieldWrite } from './pipeline-types.ts';

/** What a finished run hands to the final write: every step's writes and discovered contacts. */
export interface RunResult {
  runId: number;
  accountId: number;
  writes: FieldWrite[];
  /** Contacts discovered by steps (id undefined), with the step that found them for provenance. */
  newContacts: { contact: ContactView; stepId: string; observedAt: string }[];
}

/** Fields of a ContactView that identify it, not values to record. */
const VIEW_KEYS = new Set(['id', 'ref']);

/**
 * Writes a run's results to its record, inside the caller's transaction (all or nothing): creates the
 * contacts it discovered (deduped by email, else by name at the account), then records every value
 * with provenance through writeFieldValues, which materializes current values.
 */
export async function writeRunResult(tx: Queryable, result: RunResult): Promise<void> {
  await writeFieldValues(tx, await runObservations(tx, result));
}

/**
 * The field values of a run's results, with the contacts it discovered created first (they need ids).
 * Several runs' observations can then go to one writeFieldValues call (final-writer.ts).
 */
export async function runObservations(tx: Queryable, result: RunResult): Promise<FieldObservation[]> {
  const refToId = new Map<string, number>();
  const observations: FieldObservation[] = [];
  for (const { contact, stepId, observedAt } of result.newContacts) {
    const id = await upsertContact(tx, result.accountId, contact);
    refToId.set(contact.ref, id);
    // Name parts the step did not give are derived (full name from first + last, and back).
    const name = completePersonName({
      firstName: contact.first_name,
      lastName: contact.last_name,
      fullName: contact.full_name,
    });
    const fields: Record<string, unknown> = {
      ...contact,
      first_name: name.firstName,
      last_name: name.lastName,
      full_name: name.fullName,
    };
    for (const [field, value] of Object.entries(fields)) {
      if (VIEW_KEYS.has(field) || value === undefined || value === null || value === '') continue;
      observations.push({
        entityType: 'contact',
        entityId: id,
        field,
        value,
        source: 'step',
        operation: stepId,
        runId: result.runId,
        observedAt,
      });
    }
  }
  for (const w of result.writes) {
    let entityId = result.accountId;
    if (w.entity === 'contact') {
      const ref = w.contactRef ?? '';
      const stored = /^id:(\d+)$/.exec(ref);
      const id = stored ? Number(stored[1]) : refToId.get(ref);
      if (id === undefined) {
        throw new CriticalError(
          `run ${result.runId}: a value for ${w.field} targets contact "${ref}", which is neither stored nor discovered by this run`,
        );
      }
      entityId = id;
    }
    observations.push({
      entityType: w.entity,
      entityId,
      field: w.field,
      value: w.value,
      source: w.source,
      ...(w.provider ? { provider: w.provider } : {}),
      ...(w.operation ? { operation: w.operation } : {}),
      runId: result.runId,
      costUsd: w.costUsd,
      ...(w.confidence !== undefined ? { confidence: w.confidence } : {}),
      observedAt: w.observedAt,
    });
  }
  return observations;
}

/** The contact's id: an existing one with the same email, or the same name at the account, or a new row. */
async function upsertContact(tx: Queryable, accountId: number, c: ContactView): Promise<number> {
  const email =
    typeof c.email === 'string' && c.email.includes('@') ? c.email.trim().toLowerCase() : undefined;
  if (email) {
    const found = await tx.query<{ id: number }>('SELECT id FROM contacts WHERE email = $1', [email]);
    if (found.rows[0]) return found.rows[0].id;
  }
  const name = completePersonName({ firstName: c.first_name, lastName: c.last_name, fullName: c.full_name });
  const nameKey = personNameKey(name);
  if (nameKey) {
    const found = await tx.query<{ id: number }>(
      'SELECT id FROM contacts WHERE account_id = $1 AND name_key = $2 ORDER BY id LIMIT 1',
      [accountId, nameKey],
    );
    if (found.rows[0]) return found.rows[0].id;
  }
  if (!email && !nameKey) {
    throw new CriticalError(
      `a discovered contact (${c.ref}) has neither an email nor a name; cannot store it`,
    );
  }
  // Email and name values arrive as field values right after; the row only needs its identity now.
  // ON CONFLICT: another run may have created the same email since the SELECT above.
  const inserted = await tx.query<{ id: number }>(
    `INSERT INTO contacts (account_id, email, name_key) VALUES ($1, $2, $3)
     ON CONFLICT (email) WHERE email IS NOT NULL DO UPDATE SET email = EXCLUDED.email
     RETURNING id`,
    [accountId, email ?? null, nameKey ?? null],
  );
  return inserted.rows[0]!.id;
}
