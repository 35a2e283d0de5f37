import type { Queryable } from '../../db/db.ts';
import { CURRENT_ORDER_SQL } from '../../records/current-value-rule.ts';
import {
  type CurrentFieldValue,
  type RecordValues,
  readCurrentFieldValues,
  readRecords,
} from '../../records/read-records.ts';
import { ENTITY_TABLE, type EntityType, isColumnField } from '../../records/record-fields.ts';
import { UiError } from '../ui-auth.ts';

/**
 * The records table's per-cell status, from the value and the record's latest run (a contact's runs are
 * its account's):
 * - `found`: the field has a value, observed within STALE_DAYS;
 * - `stale`: it has a value whose current observation (current-value rule) is older than that;
 * - `error`: empty, and the latest run failed (or ended partial with failed calls);
 * - `not_found`: empty, and the latest run finished without it;
 * - `not_run`: empty, and no run has finished for the record.
 */
export const CELL_STATUSES = ['found', 'stale', 'error', 'not_found', 'not_run'] as const;
export type CellStatus = (typeof CELL_STATUSES)[number];
export const STALE_DAYS = 180;

export const BASE_FIELDS: Record<EntityType, string[]> = {
  account: ['name', 'domain', 'website', 'phone', 'city', 'state', 'segment'],
  contact: ['full_name', 'title', 'email', 'phone', 'linkedin_url'],
};

export interface RecordFilter {
  type: EntityType;
  id?: number;
  q?: string;
  /** With `statuses`: records whose `field` has one of these statuses ("email errored or not run"). */
  field?: string;
  statuses?: CellStatus[];
}

export function parseRecordFilter(get: (k: string) => string | undefined): RecordFilter {
  const type = get('type') || 'account';
  if (type !== 'account' && type !== 'contact')
    throw new UiError(400, `type must be account or contact, got "${type}"`);
  const f: RecordFilter = { type };
  const id = get('id');
  if (id) {
    const n = Number(id);
    if (!Number.isSafeInteger(n) || n <= 0) throw new UiError(400, `id must be a record id, got "${id}"`);
    f.id = n;
  }
  const q = get('q')?.trim();
  if (q) f.q = q.slice(0, 200);
  const field = get('field')?.trim();
  if (field) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/i.test(field))
      throw new UiError(400, `field must be a field name, got "${field}"`);
    f.field = field;
  }
  const statuses = (get('status') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = statuses.find((s) => !(CELL_STATUSES as readonly string[]).includes(s));
  if (bad) throw new UiError(400, `status must be among ${CELL_STATUSES.join(', ')}, got "${bad}"`);
  if (statuses.length > 0) {
    if (!f.field)
      throw new UiError(400, 'a status filter needs a field (e.g. field=email&status=error,not_run)');
    f.statuses = statuses as CellStatus[];
  }
  return f;
}

const likeEscape = (s: string) => `%${s.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/** The latest run of the record's account (contacts share their account's runs). */
const LATEST_RUN = (type: EntityType) => `LEFT JOIN LATERAL (
    SELECT r.id, r.state, r.failed_calls, r.finished_at FROM runs r
     WHERE r.account_id = ${type === 'account' ? 't.id' : 't.account_id'} ORDER BY r.id DESC LIMIT 1) lr ON true`;

function statusSql(type: EntityType, field: string, s: CellStatus, params: unknown[]): string {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  // A column name comes from the fixed list in record-fields.ts, never from the request. Parameters are
  // added only by the conditions that use them (an unused one has no type).
  const value = () => (isColumnField(type, field) ? `t.${field}::text` : `(t.attributes ->> ${p(field)})`);
  const empty = () => {
    const v = value();
    return `(${v} IS NULL OR ${v} = '')`;
  };
  // When the current value (by the current-value rule) was observed.
  const old = () => `coalesce((SELECT fv.observed_at FROM field_values fv
                     WHERE fv.entity_type = '${type}' AND fv.entity_id = t.id AND fv.field = ${p(field)}
                     ORDER BY ${CURRENT_ORDER_SQL} LIMIT 1) < now() - interval '${STALE_DAYS} days', false)`;
  const failed = `(lr.state = 'failed' OR (lr.state = 'partial' AND lr.failed_calls > 0))`;
  switch (s) {
    case 'found':
      return `(NOT ${empty()} AND NOT ${old()})`;
    case 'stale':
      return `(NOT ${empty()} AND ${old()})`;
    case 'error':
      return `(${empty()} AND ${failed})`;
    case 'not_found':
      return `(${empty()} AND lr.finished_at IS NOT NULL AND NOT ${failed})`;
    case 'not_run':
      return `(${empty()} AND lr.finished_at IS NULL)`;
  }
}

export interface RecordsPage {
  records: RecordValues[];
  fields: string[];
  provenance: Map<number, Map<string, CurrentFieldValue>>;
  latestRun: Map<number, { id: number; state: string; failedCalls: number; finished: boolean }>;
  next: number | null;
}

/** A page of records (keyset on id) with what each cell's status needs. */
export async function listRecords(
  db: Queryable,
  f: RecordFilter,
  o: { after?: number; limit: number },
): Promise<RecordsPage> {
  const params: unknown[] = [];
  const where: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const t = ENTITY_TABLE[f.type];
  if (f.id) where.push(`t.id = ${p(f.id)}`);
  if (o.after) where.push(`t.id > ${p(o.after)}`);
  if (f.q) {
    const q = p(likeEscape(f.q));
    where.push(
      f.type === 'account'
        ? `(t.name ILIKE ${q} OR t.domain ILIKE ${q} OR t.website ILIKE ${q} OR t.city ILIKE ${q})`
        : `(t.full_name ILIKE ${q} OR t.email ILIKE ${q} OR t.title ILIKE ${q})`,
    );
  }
  if (f.field && f.statuses)
    where.push(`(${f.statuses.map((s) => statusSql(f.type, f.field!, s, params)).join(' OR ')})`);
  const r = await db.query<{
    id: number;
    run_id: number | null;
    state: string | null;
    failed_calls: number | null;
    finished_at: Date | null;
  }>(
    `SELECT t.id, lr.id AS run_id, lr.state, lr.failed_calls, lr.finished_at FROM ${t} t ${LATEST_RUN(f.type)}
      WHERE ${where.length > 0 ? where.join(' AND ') : 'true'} ORDER BY t.id LIMIT ${p(o.limit + 1)}`,
    params,
  );
  const rows = r.rows.slice(0, o.limit);
  const ids = rows.map((x) => x.id);
  const records = ids.length > 0 ? await readRecords(db, f.type, ids) : [];
  const provenance = ids.length > 0 ? await readCurrentFieldValues(db, f.type, ids) : new Map();
  const extra = new Set<string>();
  for (const m of provenance.values()) for (const k of m.keys()) extra.add(k);
  const fields = [...BASE_FIELDS[f.type]];
  for (const k of [...extra].sort()) if (!fields.includes(k) && fields.length < 14) fields.push(k);
  if (f.field && !fields.includes(f.field)) fields.push(f.field);
  const latestRun = new Map(
    rows
      .filter((x) => x.run_id !== null)
      .map((x) => [
        x.id,
        {
          id: x.run_id!,
          state: x.state!,
          failedCalls: x.failed_calls ?? 0,
          finished: x.finished_at !== null,
        },
      ]),
  );
  return {
    records,
    fields,
    provenance,
    latestRun,
    next: r.rows.length > o.limit ? rows[rows.length - 1]!.id : null,
  };
}

/** The status of one cell (the same rule as the filter's SQL). */
export function cellStatus(
  value: unknown,
  provenance: CurrentFieldValue | undefined,
  run: { state: string; failedCalls: number; finished: boolean } | undefined,
  now = Date.now(),
): CellStatus {
  const empty = value === null || value === undefined || value === '';
  if (!empty) {
    const at = provenance ? new Date(provenance.observedAt).getTime() : now;
    return now - at > STALE_DAYS * 86_400_000 ? 'stale' : 'found';
  }
  if (!run?.finished) return 'not_run';
  if (run.state === 'failed' || (run.state === 'partial' && run.failedCalls > 0)) return 'error';
  return 'not_found';
}
