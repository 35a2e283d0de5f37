import { MAX_PROVIDERS } from './outcome-table.ts';
import { type Rng, sampleBeta } from './random.ts';

/**
 * What recorded traffic says about a waterfall, in the form the exact optimum needs: for every set S
 * of providers that already failed on a record and every provider j not in S, the chance j's answer is
 * accepted (a Beta posterior) and what trying j costs. Conditioning on "S failed" is what accounts for
 * correlated providers: a reseller of A's data has a high rate on its own and ~0 after A failed.
 *
 * Thin contexts back off: the prior of (S, j) has the mean of the parent model's (S, j) (a segment's
 * parent is the whole step) or, at the top, of j's pooled rate, with `priorStrength` pseudo-trials.
 * `discount` < 1 forgets old traffic (drift): each observation's weight shrinks by that factor per
 * record seen since.
 */
export interface ModelOptions {
  /** Pseudo-trials of the backed-off prior. Default 2. */
  priorStrength?: number;
  /** Weight kept per record of age (1 = never forget). Default 1. */
  discount?: number;
  parent?: ConditionalModel;
}

export interface ContextEstimate {
  /** Posterior mean of the accept rate. */
  p: number;
  /** Expected cost of trying the provider. */
  cost: number;
  /** Effective trials observed in this context (after discounting). */
  trials: number;
  accepts: number;
  alpha: number;
  beta: number;
}

export class ConditionalModel {
  readonly n: number;
  readonly #strength: number;
  readonly #discount: number;
  readonly #parent: ConditionalModel | undefined;
  // per (S, j): accepted weight, trial weight, cost sum, clock of the last update
  readonly #acc: Float64Array;
  readonly #tri: Float64Array;
  readonly #cst: Float64Array;
  readonly #at: Float64Array;
  // per j, pooled over contexts
  readonly #pAcc: Float64Array;
  readonly #pTri: Float64Array;
  readonly #pCst: Float64Array;
  readonly #pAt: Float64Array;
  #clock = 0;
  /** Declared prices per provider: the cost prior before anything is observed. */
  readonly #listCost: Float64Array;

  constructor(n: number, listCost: readonly number[], options: ModelOptions = {}) {
    if (n > MAX_PROVIDERS) throw new Error(`${n} providers is more than ${MAX_PROVIDERS}`);
    this.n = n;
    this.#strength = options.priorStrength ?? 2;
    this.#discount = options.discount ?? 1;
    this.#parent = options.parent;
    const size = (1 << n) * n;
    this.#acc = new Float64Array(size);
    this.#tri = new Float64Array(size);
    this.#cst = new Float64Array(size);
    this.#at = new Float64Array(size);
    this.#pAcc = new Float64Array(n);
    this.#pTri = new Float64Array(n);
    this.#pCst = new Float64Array(n);
    this.#pAt = new Float64Array(n);
    this.#listCost = Float64Array.from(listCost);
  }

  /** One record has gone by (ages every observation by one step of `discount`). */
  tick(): void {
    this.#clock++;
  }

  #age(arrays: Float64Array[], at: Float64Array, i: number): void {
    if (this.#discount === 1 || at[i] === this.#clock) return;
    const f = this.#discount ** (this.#clock - at[i]!);
    for (const a of arrays) a[i]! *= f;
    at[i] = this.#clock;
  }

  /** Provider j was tried after exactly the providers in `failed` (a bit mask) failed on this record. */
  observe(failed: number, j: number, accepted: boolean, cost: number): void {
    const i = failed * this.n + j;
    this.#age([this.#acc, this.#tri, this.#cst], this.#at, i);
    this.#acc[i]! += accepted ? 1 : 0;
    this.#tri[i]! += 1;
    this.#cst[i]! += cost;
    this.#age([this.#pAcc, this.#pTri, this.#pCst], this.#pAt, j);
    this.#pAcc[j]! += accepted ? 1 : 0;
    this.#pTri[j]! += 1;
    this.#pCst[j]! += cost;
  }

  /** j's rate and cost pooled over every context (the top-level prior). */
  pooled(j: number): { p: number; cost: number; trials: number; accepts: number } {
    this.#age([this.#pAcc, this.#pTri, this.#pCst], this.#pAt, j);
    const t = this.#pTri[j]!;
    const a = this.#pAcc[j]!;
    const parent = this.#parent?.pooled(j);
    const p0 = parent?.p ?? 0.5;
    const c0 = parent?.cost ?? this.#listCost[j]!;
    const k = this.#strength;
    return { p: (a + k * p0) / (t + k), cost: (this.#pCst[j]! + k * c0) / (t + k), trials: t, accepts: a };
  }

  estimate(failed: number, j: number): ContextEstimate {
    const i = failed * this.n + j;
    this.#age([this.#acc, this.#tri, this.#cst], this.#at, i);
    const t = this.#tri[i]!;
    const a = this.#acc[i]!;
    const prior = this.#parent ? this.#parent.estimate(failed, j) : this.pooled(j);
    const k = this.#strength;
    const alpha = a + k * prior.p + 0.5;
    const beta = t - a + k * (1 - prior.p) + 0.5;
    return {
      p: alpha / (alpha + beta),
      cost: (this.#cst[i]! + k * prior.cost) / (t + k),
      trials: t,
      accepts: a,
      alpha,
      beta,
    };
  }

  /**
   * The cheapest order under this model: V(S) = min_j c(j|S) + (1 − p(j|S)) · V(S ∪ {j}), the expected
   * cost still to pay on a record all of S failed on. With `rng`, p is drawn from each posterior
   * (Thompson sampling); without, the posterior means are used.
   */
  bestOrder(rng?: Rng): { order: number[]; expectedCost: number; missProbability: number } {
    const n = this.n;
    const size = 1 << n;
    const full = size - 1;
    const p = new Float64Array(size * n);
    const c = new Float64Array(size * n);
    for (let s = 0; s < full; s++) {
      for (let j = 0; j < n; j++) {
        if (s & (1 << j)) continue;
        const e = this.estimate(s, j);
        p[s * n + j] = rng ? sampleBeta(e.alpha, e.beta, rng) : e.p;
        c[s * n + j] = e.cost;
      }
    }
    const v = new Float64Array(size);
    const next = new Int8Array(size);
    for (let s = full - 1; s >= 0; s--) {
      let best = Number.POSITIVE_INFINITY;
      for (let j = 0; j < n; j++) {
        if (s & (1 << j)) continue;
        const x = c[s * n + j]! + (1 - p[s * n + j]!) * v[s | (1 << j)]!;
        if (x < best - 1e-15) {
          best = x;
          next[s] = j;
        }
      }
      v[s] = best;
    }
    const order: number[] = [];
    let miss = 1;
    for (let s = 0; s !== full; s |= 1 << next[s]!) {
      order.push(next[s]!);
      miss *= 1 - p[s * n + next[s]!]!;
    }
    return { order, expectedCost: n === 0 ? 0 : v[0]!, missProbability: miss };
  }

  /** Expected cost and miss probability of a given order under the posterior means. */
  evaluate(order: readonly number[]): { expectedCost: number; missProbability: number } {
    let s = 0;
    let open = 1;
    let cost = 0;
    for (const j of order) {
      const e = this.estimate(s, j);
      cost += open * e.cost;
      open *= 1 - e.p;
      s |= 1 << j;
    }
    return { expectedCost: cost, missProbability: open };
  }
}
