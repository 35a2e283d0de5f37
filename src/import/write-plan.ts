import type { Queryable } from '../db/db.ts';
import { companyNameKey } from '../normalize/company-name-key.ts';
import { personNameKey } from '../normalize/person-name.ts';
import { type FieldObservation, writeFieldValues } from '../records/field-values.ts';
import { COLUMN_FIELDS, ENTITY_TABLE, type EntityType } from '../records/record-fields.ts';
import type { MergePlan, PlannedGroup } from './merge-plan.ts';
import { pgIntArray, pgTextArray } from './pg-array.ts';

export type RowOutcome = 'inserted' | 'merged' | 'unchanged';

/**
 * Who supplied the rows: a CSV import, or the same dedupe/merge path used by the HTTP API (`api`) and
 * inbound webhooks (`rb2b`, `webhook`). All rank like imports in the current-value rule.
 */
export type IntakeSource = 'import' | 'api' | 'rb2b' | 'webhook' | 'crm';

/**
 * Where values from a CRM came from (`sluice crm pull`): the destination, the sync, and per incoming
 * row the CRM record's update time (the value's evidence time in the current-value rule).
 */
export interface IntakeProvenance {
  provider: string;
  operation: string;
  /** Per incoming row (index in the batch): when the CRM last changed the record. */
  observedAt: (row: number) => Date | undefined;
}

export interface PlanResult {
  /** Per incoming row: the id of its record and what happened. */
  ids: number[];
  outcomes: RowOutcome[];
}

const DEFAULT_STATUS = { account: 'new', contact: 'active' } as const;

/**
 * One statement inserts a batch of new records (ids allocated beforehand, so rows and their field values
 * are tied without relying on RETURNING order) together with their field_values. Column lists come from
 * record-fields.ts constants, never from input.
 */
function insertSql(type: EntityType, prov: boolean): string {
  const cols: string[] = [...COLUMN_FIELDS[type]];
  const extra = type === 'contact' ? ['account_id'] : [];
  const all = ['id', ...cols, 'name_key', 'attributes', ...extra];
  const types = all.map((c) =>
    c === 'id' || c === 'account_id' ? 'bigint[]' : c === 'attributes' ? 'jsonb[]' : 'text[]',
  );
  const select = all.map((c) =>
    c === 'status'
      ? `coalesce(t.status, '${DEFAULT_STATUS[type]}')`
      : c === 'last_verified_at'
        ? 't.last_verified_at::timestamptz'
        : `t.${c}`,
  );
  const n = all.length;
  return `WITH inserted AS (
  INSERT INTO ${ENTITY_TABLE[type]} (${all.join(', ')}) OVERRIDING SYSTEM VALUE
  SELECT ${select.join(', ')}
  FROM unnest(${types.map((t, i) => `$${i + 1}::${t}`).join(', ')}) AS t(${all.join(', ')})
)
INSERT INTO field_values (entity_type, entity_id, field, value, source, import_id${prov ? ', provider, operation, observed_at' : ''})
SELECT '${type}', f.id, f.field, to_jsonb(f.value), $${n + 5}, $${n + 4}${prov ? `, $${n + 6}, $${n + 7}, coalesce(f.at::timestamptz, now())` : ''}
FROM unnest($${n + 1}::bigint[], $${n + 2}::text[], $${n + 3}::text[]${prov ? `, $${n + 8}::text[]` : ''}) AS f(id, field, value${prov ? ', at' : ''})`;
}

const INSERT_SQL = { account: insertSql('account', false), contact: insertSql('contact', false) };
const INSERT_PROV_SQL = { account: insertSql('account', true), contact: insertSql('contact', true) };

function nameKeyOf(type: EntityType, v: Record<string, unknown>): string | null {
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const key =
    type === 'account'
      ? companyNameKey(s('name'))
      : personNameKey({ firstName: s('first_name'), lastName: s('last_name'), fullName: s('full_name') });
  return key ?? null;
}

/**
 * Writes a merge plan: new records with their field values in one statement; for records that already
 * existed, only values not yet recorded by an import go through writeFieldValues (which re-materializes
 * them), so re-importing a file writes nothing. `accountIds` (contacts only) gives each new group's
 * account.
 */
export async function writePlan(
  tx: Queryable,
  type: EntityType,
  plan: MergePlan,
  importId: number | null,
  accountIdOf?: (group: PlannedGroup) => number | null,
  source: IntakeSource = 'import',
  provenance?: IntakeProvenance,
): Promise<PlanResult> {
  const fresh = plan.groups.filter((g) => g.existingId === undefined);
  const ids = new Map<PlannedGroup, number>();
  for (const g of plan.groups) if (g.existingId !== undefined) ids.set(g, g.existingId);
  if (fresh.length > 0) {
    const alloc = await tx.query<{ id: number }>(
      `SELECT nextval(pg_get_serial_sequence('${ENTITY_TABLE[type]}', 'id'))::bigint AS id FROM generate_series(1, $1)`,
      [fresh.length],
    );
    fresh.forEach((g, i) => {
      ids.set(g, alloc.rows[i]!.id);
    });
    const cols: readonly string[] = COLUMN_FIELDS[type];
    const colSet = new Set(cols);
    const params: string[] = [pgIntArray(fresh.map((g) => ids.get(g)!))];
    for (const c of cols)
      params.push(pgTextArray(fresh.map((g) => (g.values[c] as string | undefined) ?? null)));
    params.push(pgTextArray(fresh.map((g) => nameKeyOf(type, g.values))));
    params.push(
      pgTextArray(
        fresh.map((g) => {
          const attrs: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(g.values)) if (!colSet.has(k)) attrs[k] = v;
          return JSON.stringify(attrs);
        }),
      ),
    );
    if (type === 'contact') params.push(pgIntArray(fresh.map((g) => accountIdOf?.(g) ?? null)));
    const fvIds: number[] = [];
    const fvFields: string[] = [];
    const fvValues: string[] = [];
    const fvAt: (string | null)[] = [];
    for (const g of fresh) {
      const id = ids.get(g)!;
      for (const o of g.observations) {
        fvIds.push(id);
        fvFields.push(o.field);
        fvValues.push(o.value);
        if (provenance) fvAt.push(provenance.observedAt(o.row)?.toISOString() ?? null);
      }
    }
    await tx.query(provenance ? INSERT_PROV_SQL[type] : INSERT_SQL[type], [
      ...params,
      pgIntArray(fvIds),
      pgTextArray(fvFields),
      pgTextArray(fvValues),
      importId,
      source,
      ...(provenance ? [provenance.provider, provenance.operation, pgTextArray(fvAt)] : []),
    ]);
  }

  const kept = new Set<number>(); // rows that recorded at least one value
  for (const g of fresh) for (const o of g.observations) kept.add(o.row);
  const old = plan.groups.filter((g) => g.existingId !== undefined && g.observations.length > 0);
  if (old.length > 0) {
    const flat = old.flatMap((g) => g.observations.map((o) => ({ id: g.existingId!, ...o })));
    const known = await tx.query<{ entity_id: number; field: string; value: string }>(
      `SELECT fv.entity_id, fv.field, fv.value #>> '{}' AS value
       FROM unnest($2::bigint[], $3::text[], $4::text[]) AS t(id, field, value)
       CROSS JOIN LATERAL (
         SELECT * FROM field_values
         WHERE entity_type = $1 AND entity_id = t.id AND field = t.field
           AND source = $5 AND value = to_jsonb(t.value) OFFSET 0
       ) fv`,
      [type, flat.map((o) => o.id), flat.map((o) => o.field), flat.map((o) => o.value), source],
    );
    const seen = new Set(known.rows.map((r) => `${r.entity_id}\u0000${r.field}\u0000${r.value}`));
    const toWrite: FieldObservation[] = [];
    for (const o of flat) {
      if (seen.has(`${o.id}\u0000${o.field}\u0000${o.value}`)) continue;
      kept.add(o.row);
      toWrite.push({
        entityType: type,
        entityId: o.id,
        field: o.field,
        value: o.value,
        source,
        ...(importId !== null ? { importId } : {}),
        ...(provenance
          ? {
              provider: provenance.provider,
              operation: provenance.operation,
              observedAt: provenance.observedAt(o.row),
            }
          : {}),
      });
    }
    await writeFieldValues(tx, toWrite);
  }
  return {
    ids: plan.rows.map((r) => ids.get(r.group)!),
    outcomes: plan.rows.map((r, i) => (r.created ? 'inserted' : kept.has(i) ? 'merged' : 'unchanged')),
  };
}
