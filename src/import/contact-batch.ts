import type { Queryable } from '../db/db.ts';
import { flattenRow } from '../records/read-records.ts';
import { writeAccountBatch } from './account-batch.ts';
import { type ExistingRecord, type PlannedGroup, planMerge } from './merge-plan.ts';
import type { ContactCandidate } from './row-normalizer.ts';
import {
  type IntakeProvenance,
  type IntakeSource,
  type PlanResult,
  type RowOutcome,
  writePlan,
} from './write-plan.ts';

export interface ContactBatchResult extends PlanResult {
  /** What happened to the companies named by the rows (created or filled in). */
  accountOutcomes: RowOutcome[];
}

const secondaryOf = (nameKey: string | undefined, accountId: number | null | undefined) =>
  nameKey ? `${nameKey}|${accountId ?? ''}` : undefined;

/**
 * Imports one batch of contacts: first their companies (found or created like an accounts import; a
 * row without company columns is linked to an existing account by its work-email domain), then the
 * contacts, deduped by email, else by name at the same account.
 */
export async function writeContactBatch(
  tx: Queryable,
  candidates: ContactCandidate[],
  importId: number | null,
  source: IntakeSource = 'import',
  provenance?: IntakeProvenance,
): Promise<ContactBatchResult> {
  if (candidates.length === 0) return { ids: [], outcomes: [], accountOutcomes: [] };
  const accountIds: (number | null)[] = candidates.map(() => null);
  const withAccount = candidates.flatMap((c, i) => (c.account ? [{ i, a: c.account }] : []));
  const accounts = await writeAccountBatch(
    tx,
    withAccount.map((x) => x.a),
    importId,
    source,
    provenance ? { ...provenance, observedAt: (k) => provenance.observedAt(withAccount[k]!.i) } : undefined,
  );
  withAccount.forEach((x, k) => {
    accountIds[x.i] = accounts.ids[k]!;
  });
  const byEmailDomain = candidates.flatMap((c, i) => (c.emailDomain ? [{ i, d: c.emailDomain }] : []));
  if (byEmailDomain.length > 0) {
    const r = await tx.query<{ id: number; domain: string }>(
      `SELECT a.id, a.domain FROM unnest($1::text[]) AS d(domain)
       CROSS JOIN LATERAL (SELECT id, domain FROM accounts WHERE domain = d.domain OFFSET 0) a`,
      [[...new Set(byEmailDomain.map((x) => x.d))]],
    );
    const ids = new Map(r.rows.map((row) => [row.domain, row.id]));
    for (const x of byEmailDomain) accountIds[x.i] = ids.get(x.d) ?? null;
  }

  const existing = await findContacts(tx, candidates, accountIds);
  const plan = planMerge(
    existing.records,
    candidates.map((c, i) => ({
      unique: c.email,
      secondary: secondaryOf(c.nameKey, accountIds[i]),
      values: c.values,
    })),
  );
  const groupAccount = new Map<PlannedGroup, number>();
  plan.rows.forEach((r, i) => {
    const a = accountIds[i];
    if (a != null && !groupAccount.has(r.group)) groupAccount.set(r.group, a);
  });
  const result = await writePlan(
    tx,
    'contact',
    plan,
    importId,
    (g) => groupAccount.get(g) ?? null,
    source,
    provenance,
  );
  // a contact imported before its company was known gets linked now
  const link = plan.groups.filter(
    (g) => g.existingId !== undefined && existing.withoutAccount.has(g.existingId) && groupAccount.has(g),
  );
  if (link.length > 0) {
    await tx.query(
      `UPDATE contacts c SET account_id = t.account_id, updated_at = now()
       FROM unnest($1::bigint[], $2::bigint[]) AS t(id, account_id)
       WHERE c.id = t.id AND c.account_id IS NULL`,
      [link.map((g) => g.existingId!), link.map((g) => groupAccount.get(g)!)],
    );
  }
  return { ...result, accountOutcomes: accounts.outcomes };
}

async function findContacts(
  tx: Queryable,
  candidates: ContactCandidate[],
  accountIds: (number | null)[],
): Promise<{ records: ExistingRecord[]; withoutAccount: Set<number> }> {
  const emails = [...new Set(candidates.flatMap((c) => (c.email ? [c.email] : [])))];
  const linked: [number, string][] = [];
  const unlinked: string[] = [];
  candidates.forEach((c, i) => {
    if (!c.nameKey) return;
    const a = accountIds[i];
    if (a != null) linked.push([a, c.nameKey]);
    else unlinked.push(c.nameKey);
  });
  const r = await tx.query<
    Record<string, unknown> & {
      id: number;
      email: string | null;
      name_key: string | null;
      account_id: number | null;
    }
  >(
    `SELECT c.* FROM unnest($1::text[]) AS e(email)
     CROSS JOIN LATERAL (SELECT * FROM contacts WHERE email = e.email OFFSET 0) c
     UNION ALL
     SELECT c.* FROM unnest($2::bigint[], $3::text[]) AS t(account_id, name_key)
     CROSS JOIN LATERAL (SELECT * FROM contacts WHERE account_id = t.account_id AND name_key = t.name_key OFFSET 0) c
     UNION ALL
     SELECT c.* FROM unnest($4::text[]) AS n(name_key)
     CROSS JOIN LATERAL (SELECT * FROM contacts WHERE account_id IS NULL AND name_key = n.name_key OFFSET 0) c`,
    [emails, linked.map((p) => p[0]), linked.map((p) => p[1]), [...new Set(unlinked)]],
  );
  const byId = new Map<number, ExistingRecord>();
  const withoutAccount = new Set<number>();
  for (const row of r.rows) {
    if (row.account_id === null) withoutAccount.add(row.id);
    const { account_id: _a, ...rest } = row;
    byId.set(row.id, {
      id: row.id,
      unique: row.email,
      secondary: secondaryOf(row.name_key ?? undefined, row.account_id) ?? null,
      values: flattenRow(rest),
    });
  }
  return { records: [...byId.values()], withoutAccount };
}
