import { CriticalError } from '../errors.ts';
import { flattenRow } from '../records/read-records.ts';
import type { ContactView, RecordView, StepOutput } from './pipeline-types.ts';

/** The view of a run loaded by claimAndLoadRun (account and contacts as JSON rows). */
export function recordViewOf(run: {
  accountId: number;
  account: Record<string, unknown> | null;
  contacts: Record<string, unknown>[];
}): RecordView {
  if (!run.account) {
    throw new CriticalError(`account ${run.accountId} no longer exists; the run cannot work on it`);
  }
  return {
    account: flattenRow(run.account),
    contacts: run.contacts.map((row) => {
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
