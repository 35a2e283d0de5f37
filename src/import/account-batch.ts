import type { Queryable } from '../db/db.ts';
import { flattenRow } from '../records/read-records.ts';
import { type ExistingRecord, planMerge } from './merge-plan.ts';
import type { AccountCandidate } from './row-normalizer.ts';
import { type IntakeProvenance, type IntakeSource, type PlanResult, writePlan } from './write-plan.ts';

/**
 * Accounts that may be one of the candidates: same domain, or same name key and state. One round trip.
 * LATERAL ... OFFSET 0 makes every probe an index lookup (accounts_domain_key, accounts_name_state_idx)
 * whatever the planner's statistics say: OFFSET 0 stops the subquery from being pulled up into a join,
 * and a table that grew during this import has stale statistics, with which the planner picks a hash
 * or merge join over a sequential scan, making each batch cost as much as the whole table.
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
    `SELECT a.* FROM unnest($1::text[]) AS d(domain)
     CROSS JOIN LATERAL (SELECT * FROM accounts WHERE domain = d.domain OFFSET 0) a
     UNION ALL
     SELECT a.* FROM unnest($2::text[], $3::text[]) AS t(name_key, state)
     CROSS JOIN LATERAL (
       SELECT * FROM accounts WHERE name_key = t.name_key AND coalesce(lower(state), '') = t.state OFFSET 0
     ) a`,
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
  importId: number | null,
  source: IntakeSource = 'import',
  provenance?: IntakeProvenance,
): Promise<PlanResult> {
  if (candidates.length === 0) return { ids: [], outcomes: [] };
  await resolveMissingStates(tx, candidates);
  const existing = await findAccounts(tx, candidates);
  const plan = planMerge(
    existing,
    candidates.map((c) => ({ unique: c.domain, secondary: c.nameState, values: c.values })),
  );
  return writePlan(tx, 'account', plan, importId, undefined, source, provenance);
}

/**
 * A row without a state (typical of contacts files naming only the company) means "state unknown", not
 * "no state": when exactly one account has that name, the row takes its state and so matches it. With
 * several same-name accounts in different states the row stays separate rather than guess.
 */
async function resolveMissingStates(tx: Queryable, candidates: AccountCandidate[]): Promise<void> {
  const stateless = candidates.filter((c) => !c.domain && c.nameState?.endsWith('|'));
  if (stateless.length === 0) return;
  const keys = [...new Set(stateless.map((c) => c.nameState!.slice(0, -1)))];
  const r = await tx.query<{ name_key: string; state: string; n: number }>(
    `SELECT k.key AS name_key, min(coalesce(lower(a.state), '')) AS state, count(*)::int AS n
     FROM unnest($1::text[]) AS k(key)
     CROSS JOIN LATERAL (SELECT state FROM accounts WHERE name_key = k.key OFFSET 0) a
     GROUP BY k.key`,
    [keys],
  );
  const only = new Map(r.rows.filter((row) => row.n === 1).map((row) => [row.name_key, row.state]));
  for (const c of stateless) {
    const state = only.get(c.nameState!.slice(0, -1));
    if (state) c.nameState = `${c.nameState}${state}`;
  }
}
