import { MAX_PROVIDERS, type OutcomeRow } from './outcome-table.ts';

/**
 * The exact cheapest order for a fully known outcome table (every provider's answer for every record).
 * With S the set of providers tried so far, the records still open are those no provider of S accepts;
 * trying j next costs the sum of cost[j] over them. f(S) = min_j C(S, j) + f(S ∪ {j}), f(all) = 0.
 * C(S, j) for every S comes from one subset-sum (zeta) transform over the records' accept masks:
 * a record is open after S iff its mask ⊆ ~S. O(2^n · n²) after one pass over the rows.
 */
export interface ExactOrder {
  order: number[];
  cost: number;
}

export function exactOrder(n: number, rows: readonly OutcomeRow[]): ExactOrder {
  if (n > MAX_PROVIDERS) throw new Error(`exact order: ${n} providers is more than ${MAX_PROVIDERS}`);
  const size = 1 << n;
  const full = size - 1;
  // g[m * n + j] = sum of cost[j] over records whose accept mask is m, then zeta-transformed to ⊆ m.
  const g = new Float64Array(size * n);
  for (const r of rows) {
    const base = r.accept * n;
    for (let j = 0; j < n; j++) g[base + j]! += r.cost[j]!;
  }
  for (let bit = 0; bit < n; bit++) {
    const b = 1 << bit;
    for (let m = 0; m < size; m++) {
      if (m & b) {
        const to = m * n;
        const from = (m ^ b) * n;
        for (let j = 0; j < n; j++) g[to + j]! += g[from + j]!;
      }
    }
  }
  const f = new Float64Array(size);
  const next = new Int8Array(size).fill(-1);
  for (let s = full - 1; s >= 0; s--) {
    const open = (full & ~s) * n;
    let best = Number.POSITIVE_INFINITY;
    let pick = -1;
    for (let j = 0; j < n; j++) {
      if (s & (1 << j)) continue;
      const v = g[open + j]! + f[s | (1 << j)]!;
      if (v < best - 1e-12) {
        best = v;
        pick = j;
      }
    }
    f[s] = best;
    next[s] = pick;
  }
  const order: number[] = [];
  for (let s = 0; s !== full; s |= 1 << next[s]!) order.push(next[s]!);
  return { order, cost: n === 0 ? 0 : f[0]! };
}
