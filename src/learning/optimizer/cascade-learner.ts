import { ConditionalModel, type ModelOptions } from './conditional-model.ts';
import type { Rng } from './random.ts';

/**
 * Cost-aware cascading Thompson sampling over a waterfall: one conditional model per segment, each
 * backing off to the whole step's model. For every record an order is drawn from the posteriors (so
 * thin or stale estimates get explored in proportion to how likely they are to be cheaper), the
 * providers are tried in that order until one is accepted, and every attempt is learned from.
 */
export interface LearnerOptions extends Omit<ModelOptions, 'parent'> {
  /** Segments with fewer observed records than this use the whole step's order. Default 30. */
  minSegmentRecords?: number;
}

/** One attempt as the waterfall made it: provider index, accepted, what it cost. */
export interface Attempt {
  j: number;
  accepted: boolean;
  cost: number;
  /** Errors teach nothing about the provider's data; they only leave it out of later conditioning. */
  error?: boolean;
  /** Not called (its inputs were missing or its `when` was false): free, and found nothing. */
  skipped?: boolean;
}

export class CascadeLearner {
  readonly global: ConditionalModel;
  readonly #segments = new Map<string, { model: ConditionalModel; records: number }>();
  readonly #options: LearnerOptions;
  readonly #listCost: readonly number[];
  readonly n: number;

  constructor(n: number, listCost: readonly number[], options: LearnerOptions = {}) {
    this.n = n;
    this.#listCost = listCost;
    this.#options = options;
    this.global = new ConditionalModel(n, listCost, options);
  }

  segment(key: string): ConditionalModel | undefined {
    return this.#segments.get(key)?.model;
  }

  segments(): { key: string; records: number; model: ConditionalModel }[] {
    return [...this.#segments].map(([key, s]) => ({ key, ...s }));
  }

  #modelFor(segment: string): ConditionalModel {
    const s = this.#segments.get(segment);
    if (!segment || !s || s.records < (this.#options.minSegmentRecords ?? 30)) return this.global;
    return s.model;
  }

  /** The order to use for the next record of `segment`: sampled (explore) with `rng`, else the posterior best. */
  order(segment: string, rng?: Rng): number[] {
    return this.#modelFor(segment).bestOrder(rng).order;
  }

  /** Learns from one record's attempts, in the order they were made. */
  learn(segment: string, attempts: readonly Attempt[]): void {
    let seg = segment ? this.#segments.get(segment) : undefined;
    if (segment && !seg) {
      seg = {
        model: new ConditionalModel(this.n, this.#listCost, { ...this.#options, parent: this.global }),
        records: 0,
      };
      this.#segments.set(segment, seg);
    }
    let failed = 0;
    for (const a of attempts) {
      if (!a.error) {
        this.global.observe(failed, a.j, a.accepted, a.cost);
        seg?.model.observe(failed, a.j, a.accepted, a.cost);
      }
      if (a.accepted) break;
      failed |= 1 << a.j;
    }
    this.global.tick();
    seg?.model.tick();
    if (seg) seg.records++;
  }
}
