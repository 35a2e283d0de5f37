/**
 * A waterfall's outcome table: for each record, what trying each provider would cost and whether its
 * answer would be accepted (found, and passed the validator if there is one). A waterfall stops at the
 * first accepted answer, so whether a record is still open after a *set* of providers does not depend on
 * the order inside the set: that is what makes the exact optimum a dynamic program over subsets
 * (exact-order.ts). Providers are indexed 0..n-1; `accept` is a bit mask over them.
 */
export interface OutcomeRow {
  /** cost[j]: what trying provider j on this record costs (call + validator when it validates; 0 when skipped). */
  cost: Float64Array;
  /** Bit j set: provider j's answer is accepted. */
  accept: number;
  /** Segment key for per-segment orders; '' when unsegmented. */
  segment: string;
}

export interface OutcomeTable {
  providers: string[];
  rows: OutcomeRow[];
}

/** At most this many providers in one waterfall (2^n states). */
export const MAX_PROVIDERS = 16;

/** What an order costs on a table: each record pays for providers until the first accepted answer. */
export function orderCost(table: OutcomeTable, order: readonly number[], rows = table.rows): number {
  let total = 0;
  for (const r of rows) {
    for (const j of order) {
      total += r.cost[j]!;
      if (r.accept & (1 << j)) break;
    }
  }
  return total;
}

/** Records with at least one accepted answer (the same for every order that keeps every provider). */
export function foundCount(rows: readonly OutcomeRow[]): number {
  let n = 0;
  for (const r of rows) if (r.accept !== 0) n++;
  return n;
}

export function bySegment(rows: readonly OutcomeRow[]): Map<string, OutcomeRow[]> {
  const out = new Map<string, OutcomeRow[]>();
  for (const r of rows) {
    const list = out.get(r.segment) ?? [];
    list.push(r);
    out.set(r.segment, list);
  }
  return out;
}
