import type { Queryable } from '../db/db.ts';
import { CriticalError } from '../errors.ts';
import { flattenRow, readRecord } from '../records/read-records.ts';
import type { ContactView, RecordView, StepOutput } from './pipeline-types.ts';

/** Loads the account a run works on, with its contacts, as steps see it. */
export async function loadRecordView(db: Queryable, accountId: number): Promise<RecordView> {
  const account = await readRecord(db, 'account', accountId);
  if (!account) {
    throw new CriticalError(`account ${accountId} no longer exists; the run cannot work on it`);
  }
  const contacts = await db.query<Record<string, unknown>>(
    'SELECT * FROM contacts WHERE account_id = $1 ORDER BY id',
    [accountId],
  );
  return {
    account,
    contacts: contacts.rows.map((row) => {
      const flat = flattenRow(row);
      return { ...flat, id: flat.id, ref: `id:${flat.id}` } satisfies ContactView;
    }),
  };
}

/** Applies a step's writes and discovered contacts to the view later steps see. */
export function applyStepOutput(record: RecordView, output: StepOutput): void {
  for (const c of output.newContacts ?? []) {
    if (!record.contacts.some((existing) => existing.ref === c.ref)) record.contacts.push({ ...c });
  }
  for (const w of output.writes) {
    if (w.entity === 'account') {
      record.account[w.field] = w.value;
    } else {
      const contact = record.contacts.find((c) => c.ref === w.contactRef);
      if (contact) contact[w.field] = w.value;
    }
  }
}
