import type { Queryable } from '../db/db.ts';

/**
 * What later happened to a value (verified, bounced, corrected by a rep or the CRM, replied to). Any
 * layer that learns such a thing records it here; deployment quality figures are computed from these.
 * Fed today: verifier answers already in the cache (feedVerifierOutcomes). Freshness, outreach and CRM
 * sync call recordValueOutcome when they land.
 */
export type Outcome = 'verified' | 'bounced' | 'corrected' | 'replied';

export interface ValueOutcomeInput {
  entityType: 'account' | 'contact';
  entityId: number;
  field: string;
  value?: unknown;
  /** The observation judged; with it, recording the same judgement twice is a no-op. */
  fieldValueId?: number | null;
  outcome: Outcome;
  /** verifier, freshness, outreach, crm, manual */
  source: string;
  provider?: string | null;
  operation?: string | null;
  runId?: number | null;
  detail?: Record<string, unknown>;
  observedAt?: string;
}

export async function recordValueOutcome(db: Queryable, o: ValueOutcomeInput): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO value_outcomes (entity_type, entity_id, field, value, field_value_id, outcome, source,
                                 provider, operation, run_id, detail, observed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12::timestamptz, now()))
     ON CONFLICT (field_value_id, outcome, source) WHERE field_value_id IS NOT NULL DO NOTHING`,
    [
      o.entityType,
      o.entityId,
      o.field,
      o.value === undefined ? null : JSON.stringify(o.value),
      o.fieldValueId ?? null,
      o.outcome,
      o.source,
      o.provider ?? null,
      o.operation ?? null,
      o.runId ?? null,
      JSON.stringify(o.detail ?? {}),
      o.observedAt ?? null,
    ],
  );
  return r.rowCount > 0;
}

/** A verifier operation whose cached answers judge values: which field, which input, which statuses. */
export interface VerifierDefinition {
  provider: string;
  operation: string;
  field: string;
  /** Input key holding the value checked (a cache input that is the bare value works too). */
  input: string;
  /** Output key holding the verdict. */
  status: string;
  verified: readonly string[];
  bounced: readonly string[];
}

export const VERIFIERS: readonly VerifierDefinition[] = [
  {
    provider: 'hunter',
    operation: 'email-verifier',
    field: 'email',
    input: 'email',
    status: 'status',
    verified: ['valid'],
    bounced: ['invalid'],
  },
];

/**
 * Records verifier verdicts for values written by runs of `batches`: a value whose cached verifier
 * answer says `valid` is verified, `invalid` bounced. Idempotent; returns the outcomes added.
 */
export async function feedVerifierOutcomes(db: Queryable, batches: number[]): Promise<number> {
  let added = 0;
  for (const v of VERIFIERS) {
    const r = await db.query(
      // both sides materialized first and joined on the lowercased address: without statistics (a fresh
      // data dir is never analyzed) the planner looped over the verifier's cache entries per value (1.5 s
      // for the demo's 200 records)
      // the cache's and the records' read views (migration 0050), not their tables
      `WITH v AS MATERIALIZED (
         SELECT lower(coalesce(c.input->>$4, c.input #>> '{}')) AS k, c.provider, c.operation,
                c.output->>$5 AS status, c.created_at
           FROM cache_answers c
          WHERE c.provider = $2 AND c.operation = $3 AND c.found
            AND (c.output->>$5 = ANY($6::text[]) OR c.output->>$5 = ANY($8::text[]))),
       f AS MATERIALIZED (
         SELECT f.id, f.entity_type, f.entity_id, f.field, f.value, f.run_id, lower(f.value #>> '{}') AS k
           FROM run_field_values f
          WHERE f.batch_id = ANY($1::bigint[]) AND f.field = $7 AND f.source = 'provider')
       INSERT INTO value_outcomes (entity_type, entity_id, field, value, field_value_id, outcome, source,
                                   provider, operation, run_id, detail, observed_at)
       SELECT f.entity_type, f.entity_id, f.field, f.value, f.id,
              CASE WHEN v.status = ANY($6::text[]) THEN 'verified' ELSE 'bounced' END,
              'verifier', v.provider, v.operation, f.run_id, jsonb_build_object('status', v.status), v.created_at
         FROM f JOIN v ON v.k = f.k
       ON CONFLICT (field_value_id, outcome, source) WHERE field_value_id IS NOT NULL DO NOTHING`,
      [batches, v.provider, v.operation, v.input, v.status, v.verified, v.field, v.bounced],
    );
    added += r.rowCount;
  }
  return added;
}
