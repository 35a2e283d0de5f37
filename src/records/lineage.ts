import type { Queryable } from '../db/db.ts';
import { CURRENT_ORDER_SQL, RANK_SQL } from './current-value-rule.ts';
import type { EntityType } from './record-fields.ts';

/** Why the current value of a field wins, by its rank in the current-value rule. */
const WHY: Record<number, string> = {
  1: 'a manual edit beats every other source',
  2: 'reps own this field: the CRM value beats enrichment',
  3: 'the most recent confident enrichment (confidence unknown or at least 0.5) that is new evidence beats the CRM and imports',
  4: "a rep's correction in the CRM beats what enrichment already knew when it was made",
  5: 'the most recent confident enrichment beats imports',
  6: 'the earliest imported value wins; later imports only fill empty fields',
  7: 'a low-confidence value, used because nothing better exists',
};

export interface LineageValue {
  value: unknown;
  current: boolean;
  source: string;
  provider: string | null;
  operation: string | null;
  runId: number | null;
  importId: number | null;
  costUsd: number;
  confidence: number | null;
  observedAt: Date;
}

export interface FieldLineage {
  field: string;
  /** Why the first value is the current one. */
  why: string;
  values: LineageValue[];
}

/** Every observed value of every field of one record, the current one first, with its provenance. */
export async function readLineage(db: Queryable, type: EntityType, id: number): Promise<FieldLineage[]> {
  const r = await db.query<LineageValue & { field: string; rank: number }>(
    `SELECT fv.field, fv.value, fv.source, fv.provider, fv.operation, fv.run_id AS "runId", fv.import_id AS "importId",
            fv.cost_usd::float8 AS "costUsd", fv.confidence, fv.observed_at AS "observedAt", ${RANK_SQL} AS rank,
            row_number() OVER (PARTITION BY fv.field ORDER BY ${CURRENT_ORDER_SQL}) = 1 AS current
       FROM field_values fv WHERE fv.entity_type = $1 AND fv.entity_id = $2
      ORDER BY fv.field, current DESC, fv.observed_at DESC, fv.id DESC`,
    [type, id],
  );
  const out = new Map<string, FieldLineage>();
  for (const { field, rank, ...v } of r.rows) {
    let f = out.get(field);
    if (!f) {
      f = { field, why: WHY[rank] ?? '', values: [] };
      out.set(field, f);
    }
    f.values.push(v);
  }
  return [...out.values()];
}
