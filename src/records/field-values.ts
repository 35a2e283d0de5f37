import type { Queryable } from '../db/db.ts';
import { CriticalError } from '../errors.ts';
import { materializeCurrentValues } from './materialize.ts';
import { type EntityType, RESERVED_FIELDS } from './record-fields.ts';

/** Where an observed value came from (field_values.source). */
export type FieldSource = 'import' | 'provider' | 'step' | 'manual' | 'crm' | 'api' | 'rb2b' | 'webhook';

/** One value observed for one field of one account or contact, with its provenance. */
export interface FieldObservation {
  entityType: EntityType;
  entityId: number;
  /** A column of the table (see record-fields.ts) or any other name, which goes to `attributes`. */
  field: string;
  /** Any JSON value. `undefined` is skipped; `null` records "this field is empty" (clears it if it wins). */
  value: unknown;
  source: FieldSource;
  provider?: string;
  operation?: string;
  runId?: number;
  importId?: number;
  /** Cost of the call that produced the value, in USD. Default 0. */
  costUsd?: number;
  /** 0..1. Default null = as good as the source gets. Below 0.5 the value is used only as a last resort. */
  confidence?: number;
  /** Default: the database's now() (the transaction start). */
  observedAt?: Date | string;
}

/**
 * Read port: the newest observation's id (field_values is append-only, so a new value raises it), for
 * readers that derive something from values written and want to know whether to look again.
 */
export async function fieldValuesWatermark(db: Queryable): Promise<number> {
  const r = await db.query<{ id: string | number | null }>('SELECT max(id) AS id FROM field_values');
  return Number(r.rows[0]?.id ?? 0);
}

/** Observations per INSERT statement: one round trip each, arrays passed as 12 parameters. */
const BATCH = 5000;
const SOURCES = new Set<FieldSource>([
  'import',
  'provider',
  'step',
  'manual',
  'crm',
  'api',
  'rb2b',
  'webhook',
]);

/**
 * Records observations in field_values and re-materializes the current value (current-value-rule.ts)
 * of every touched field on the account/contact row. Run it inside a transaction so the log and the
 * rows never disagree. Throws CriticalError, writing nothing, when an observation is malformed or its
 * record does not exist.
 */
export async function writeFieldValues(tx: Queryable, observations: FieldObservation[]): Promise<void> {
  const kept = observations.filter((o) => o.value !== undefined);
  if (kept.length === 0) return;
  kept.forEach(validateObservation);
  await insertFieldValues(tx, kept);
  const touched: Record<EntityType, Map<number, Set<string>>> = { account: new Map(), contact: new Map() };
  for (const o of kept) {
    const fields = touched[o.entityType].get(o.entityId) ?? new Set<string>();
    fields.add(o.field);
    touched[o.entityType].set(o.entityId, fields);
  }
  for (const type of ['account', 'contact'] as const) {
    if (touched[type].size > 0) await materializeCurrentValues(tx, type, touched[type]);
  }
}

/**
 * Appends observations to field_values without touching the records. Only for callers that write the
 * row's columns themselves in the same transaction (the import hot path inserts new rows with exactly
 * these values); everyone else uses writeFieldValues.
 */
export async function insertFieldValues(tx: Queryable, observations: FieldObservation[]): Promise<void> {
  for (let start = 0; start < observations.length; start += BATCH) {
    const batch = observations.slice(start, start + BATCH);
    await tx.query(
      `INSERT INTO field_values
         (entity_type, entity_id, field, value, source, provider, operation, run_id, import_id, cost_usd,
          confidence, observed_at)
       SELECT t.entity_type, t.entity_id, t.field, t.value::jsonb, t.source, t.provider, t.operation, t.run_id,
              t.import_id, coalesce(t.cost_usd, 0), t.confidence, coalesce(t.observed_at, now())
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::bigint[], $9::bigint[], $10::numeric[], $11::real[], $12::timestamptz[])
         AS t(entity_type, entity_id, field, value, source, provider, operation, run_id, import_id, cost_usd,
              confidence, observed_at)`,
      [
        batch.map((o) => o.entityType),
        batch.map((o) => o.entityId),
        batch.map((o) => o.field),
        batch.map((o) => JSON.stringify(o.value ?? null)),
        batch.map((o) => o.source),
        batch.map((o) => o.provider ?? null),
        batch.map((o) => o.operation ?? null),
        batch.map((o) => o.runId ?? null),
        batch.map((o) => o.importId ?? null),
        batch.map((o) => o.costUsd ?? null),
        batch.map((o) => o.confidence ?? null),
        batch.map((o) => toIso(o.observedAt)),
      ],
    );
  }
}

function toIso(d: Date | string | undefined): string | null {
  if (d === undefined) return null;
  return d instanceof Date ? d.toISOString() : d;
}

function validateObservation(o: FieldObservation): void {
  const what = `field value ${o.entityType} ${o.entityId}.${o.field}`;
  const bad = (reason: string) => new CriticalError(`${what} (source ${o.source}): ${reason}`);
  if (o.entityType !== 'account' && o.entityType !== 'contact')
    throw bad(`entity type must be "account" or "contact", got ${JSON.stringify(o.entityType)}`);
  if (!Number.isSafeInteger(o.entityId) || o.entityId <= 0) throw bad('entity id must be a positive integer');
  if (typeof o.field !== 'string' || o.field.trim() === '') throw bad('field name is empty');
  if (RESERVED_FIELDS.has(o.field)) throw bad(`"${o.field}" is managed by Sluice and cannot be written`);
  if (!SOURCES.has(o.source)) throw bad(`source must be one of ${[...SOURCES].join(', ')}`);
  if (o.confidence !== undefined && !(o.confidence >= 0 && o.confidence <= 1))
    throw bad(`confidence must be between 0 and 1, got ${o.confidence}`);
  if (o.costUsd !== undefined && !(Number.isFinite(o.costUsd) && o.costUsd >= 0))
    throw bad(`cost must be a non-negative number, got ${o.costUsd}`);
  if (o.observedAt !== undefined && Number.isNaN(new Date(o.observedAt).getTime()))
    throw bad(`observedAt is not a date: ${String(o.observedAt)}`);
  if (o.value === null) return;
  if (o.field === 'status' && o.entityType === 'contact' && o.value !== 'active' && o.value !== 'inactive')
    throw bad(`contact status must be "active" or "inactive", got ${JSON.stringify(o.value)}`);
  if (o.field === 'last_verified_at' && Number.isNaN(new Date(String(o.value)).getTime()))
    throw bad(`not a date: ${JSON.stringify(o.value)}`);
}
