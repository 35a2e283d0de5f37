/**
 * Dedupe of one batch, in memory: which incoming rows are one record, which match a record already in
 * the database, and which field values each contributes. No I/O: the batch writers look the candidates
 * up first and write the plan after.
 *
 * Identity (the same for accounts and contacts, with their own keys):
 * - `unique` (account domain, contact email) matches a record with that unique key;
 * - otherwise `secondary` (account name + state, contact name + account) matches a record with the same
 *   secondary key — when the incoming row has a unique key, only a record that has none (two different
 *   domains are two companies, even with one name).
 */
export interface ExistingRecord {
  id: number;
  unique: string | null;
  secondary: string | null;
  /** Current values, attributes included. */
  values: Record<string, unknown>;
}

export interface IncomingRow {
  unique?: string;
  secondary?: string;
  values: Record<string, string>;
}

export interface Observation {
  field: string;
  value: string;
  /** Index of the incoming row that brought it. */
  row: number;
}

export interface PlannedGroup {
  /** Set for a record already in the database. */
  existingId?: number;
  unique?: string;
  secondary?: string;
  /** Current values after this batch: the first non-empty value per field wins (the import rule). */
  values: Record<string, unknown>;
  /** Values to record in field_values: new ones and differing ones, each (field, value) once. */
  observations: Observation[];
  /** (field, value) pairs already observed; built when a second row joins (most groups have one row). */
  seen?: Set<string>;
}

export interface MergePlan {
  groups: PlannedGroup[];
  /** Per incoming row: its group and whether it created it. */
  rows: { group: PlannedGroup; created: boolean }[];
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === '';
const same = (a: unknown, b: string) =>
  typeof a === 'string' ? a === b : typeof a === 'object' ? JSON.stringify(a) === b : String(a) === b;

export function planMerge(existing: ExistingRecord[], incoming: IncomingRow[]): MergePlan {
  const byUnique = new Map<string, PlannedGroup>();
  const bySecondary = new Map<string, PlannedGroup[]>();
  const groups: PlannedGroup[] = [];
  const index = (g: PlannedGroup) => {
    if (g.unique !== undefined && !byUnique.has(g.unique)) byUnique.set(g.unique, g);
    if (g.secondary !== undefined) {
      const list = bySecondary.get(g.secondary) ?? [];
      if (!list.includes(g)) list.push(g);
      bySecondary.set(g.secondary, list);
    }
  };
  for (const e of [...existing].sort((a, b) => a.id - b.id)) {
    index({
      existingId: e.id,
      unique: e.unique ?? undefined,
      secondary: e.secondary ?? undefined,
      values: { ...e.values },
      observations: [],
    });
  }
  const planned = new Set<PlannedGroup>();
  const rows: MergePlan['rows'] = [];
  incoming.forEach((row, i) => {
    let group: PlannedGroup | undefined;
    if (row.unique !== undefined) group = byUnique.get(row.unique);
    if (!group && row.secondary !== undefined) {
      const list = bySecondary.get(row.secondary) ?? [];
      group = row.unique !== undefined ? list.find((g) => g.unique === undefined) : list[0];
    }
    const created = !group;
    if (!group) {
      group = { unique: row.unique, secondary: row.secondary, values: {}, observations: [] };
      groups.push(group);
      planned.add(group);
    } else if (!planned.has(group)) {
      groups.push(group);
      planned.add(group);
    }
    if (created) {
      // a new record's first row: every value is new, no need to compare
      for (const [field, value] of Object.entries(row.values)) {
        group.values[field] = value;
        group.observations.push({ field, value, row: i });
      }
    } else {
      group.seen ??= new Set(group.observations.map((o) => `${o.field}\u0000${o.value}`));
      for (const [field, value] of Object.entries(row.values)) {
        const current = group.values[field];
        if (!isEmpty(current) && same(current, value)) continue;
        const key = `${field}\u0000${value}`;
        if (group.seen.has(key)) continue;
        group.seen.add(key);
        if (isEmpty(current)) group.values[field] = value;
        group.observations.push({ field, value, row: i });
      }
    }
    if (group.unique === undefined && row.unique !== undefined) group.unique = row.unique;
    if (group.secondary === undefined && row.secondary !== undefined) group.secondary = row.secondary;
    index(group);
    rows.push({ group, created });
  });
  return { groups, rows };
}
