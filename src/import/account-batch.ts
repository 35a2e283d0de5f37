import type { Queryable } from '../db/db.ts';
import { flattenRow } from '../records/read-records.ts';
import { type ExistingRecord, planMerge } from './merge-plan.ts';
import type { AccountCandidate } from './row-normalizer.ts';
import { type PlanResult, writePlan } from './write-plan.ts';

/**
 * Accounts that may be one of the candidates: same domain, or same name key and state. One round trip;
 * the name/state half uses accounts_name_state_idx (same expression).
 */
export async function findAccounts(tx: Queryable, candidates: AccountCandidate[]): Promise<ExistingRecord[]> {
  const domains = [...new Set(candidates.flatMap((c) => (c.domain ? [c.domain] : [])))];
  const pairs = [...new Set(candidates.flatMap((c) => (c.nameState ? [c.nameState] : [])))].map((s) => {
    const bar = s.lastIndexOf('|');
    return [s.slice(0, bar), s.slice(bar + 1)] as const;
  });
  if (domains.length === 0 && pairs.length === 0) return [];
  const r = await tx.query<
    Record<string, unknown> & {
      id: number;
      domain: string | null;
      name_key: string | null;
      state: string | null;
    }
  >(
    `SELECT * FROM accounts WHERE domain = ANY($1::text[])
     UNION ALL
     SELECT a.* FROM accounts a
     JOIN unnest($2::text[], $3::text[]) AS t(name_key, state)
       ON a.name_key = t.name_key AND coalesce(lower(a.state), '') = t.state`,
    [domains, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
  );
  const byId = new Map<number, ExistingRecord>();
  for (const row of r.rows) {
    byId.set(row.id, {
      id: row.id,
      unique: row.domain,
      secondary: row.name_key ? `${row.name_key}|${(row.state ?? '').toLowerCase()}` : null,
      values: flattenRow(row),
    });
  }
  return [...byId.values()];
}

/**
 * Imports one batch of account candidates (one transaction): dedupes them against each other and the
 * database, inserts new accounts, merges the rest. Returns each candidate's account id and outcome.
 */
export async function writeAccountBatch(
  tx: Queryable,
  candidates: AccountCandidate[],
  importId: number,
): Promise<PlanResult> {
  if (candidates.length === 0) return { ids: [], outcomes: [] };
  const existing = await findAccounts(tx, candidates);
  const plan = planMerge(
    existing,
    candidates.map((c) => ({ unique: c.domain, secondary: c.nameState, values: c.values })),
  );
  return writePlan(tx, 'account', plan, importId);
}
