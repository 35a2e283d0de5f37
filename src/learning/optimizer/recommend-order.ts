import type { Queryable } from '../../db/db.ts';
import { loadPipeline } from '../../pipelines/resolve.ts';
import { wilsonInterval } from '../wilson.ts';
import { CascadeLearner } from './cascade-learner.ts';
import type { ConditionalModel } from './conditional-model.ts';
import { seededRng } from './random.ts';
import {
  findWaterfall,
  listPrices,
  type Price,
  type RecordedInstance,
  recordedInstances,
  type WaterfallRef,
} from './recorded-outcomes.ts';

/**
 * `sluice optimize`: the provider order a waterfall step should use, per segment, from its recorded
 * traffic. The conditional model (conditional-model.ts) is fed every recorded attempt; the recommended
 * order is its exact optimum (subset DP over posterior means), and its confidence is how often that
 * order is also the optimum when the posteriors are sampled (Thompson draws). Thin segments back off to
 * the whole step.
 */
export interface ProviderReport {
  provider: string;
  operation: string;
  price: Price;
  /** Where it sits in the current order (1-based). */
  position: number;
  /** Tried (not skipped, not errored), accepted, rejected by the validator, errors, skipped. */
  tried: number;
  accepted: number;
  rejected: number;
  errors: number;
  skipped: number;
  /** accepted ÷ tried, with its 95% Wilson interval: the rate *after* the providers before it failed. */
  rate: number | null;
  interval: { low: number; high: number } | null;
}

export interface SegmentRecommendation {
  segment: string;
  records: number;
  /** true when this segment had too few records and uses the whole step's model. */
  backedOff: boolean;
  current: string[];
  recommended: string[];
  /** The same order as indexes into the step's provider list. */
  order: number[];
  currentCostPerRecordUsd: number;
  recommendedCostPerRecordUsd: number;
  foundShare: number;
  currentCostPerFoundUsd: number | null;
  recommendedCostPerFoundUsd: number | null;
  /** Share of posterior draws in which the recommended order is the cheapest. */
  confidence: number;
}

export interface Correlation {
  provider: string;
  after: string;
  /** Rate when `after` had not been tried vs after it failed, each with its trials. */
  without: { rate: number; trials: number };
  afterFailed: { rate: number; trials: number };
}

export interface OptimizeReport {
  pipeline: string;
  file: string;
  step: string;
  segmentBy: string | null;
  validator: Price | null;
  records: number;
  providers: ProviderReport[];
  segments: SegmentRecommendation[];
  /** The whole step's recommendation (what records of any other segment use). */
  overall: SegmentRecommendation;
  correlations: Correlation[];
  /** Pairs for which only one order was ever seen, so overlap could not be measured. */
  unmeasuredPairs: number;
  ref: WaterfallRef;
}

export const MIN_SEGMENT_RECORDS = 30;
const DRAWS = 200;

export async function recommendOrder(
  db: Queryable,
  options: { pipeline: string; step: string; segmentBy?: string },
): Promise<OptimizeReport> {
  const { spec, file } = await loadPipeline(options.pipeline);
  const ref = findWaterfall(spec, options.step);
  const calls = ref.spec.providers.map((p) => ({ provider: p.provider, operation: p.operation }));
  const v = ref.spec.validate;
  const allPrices = await listPrices(
    db,
    options.pipeline,
    v ? [...calls, { provider: v.provider, operation: v.operation }] : calls,
  );
  const prices = allPrices.slice(0, calls.length);
  const validator = v ? allPrices[calls.length]! : undefined;
  const instances = await recordedInstances(db, options.pipeline, ref, prices, validator, options.segmentBy);
  const n = calls.length;
  const learner = new CascadeLearner(
    n,
    prices.map((p) => p.hitUsd),
    { discount: 0.9998, minSegmentRecords: MIN_SEGMENT_RECORDS },
  );
  for (const i of instances) learner.learn(i.segment, i.attempts);
  const label = (j: number) => `${calls[j]!.provider}.${calls[j]!.operation}`;
  const current = [...Array(n).keys()];
  const segmentKeys = options.segmentBy ? [...new Set(instances.map((i) => i.segment))].sort() : [''];
  const rng = seededRng(1);
  const segments = segmentKeys.map((key) => {
    const own = key ? learner.segment(key) : learner.global;
    const records = instances.filter((i) => !key || i.segment === key).length;
    const backedOff = key !== '' && records < MIN_SEGMENT_RECORDS;
    const model: ConditionalModel = backedOff || !own ? learner.global : own;
    return recommendation(model, key, records, backedOff, current, label, rng);
  });
  return {
    pipeline: options.pipeline,
    file,
    step: ref.key,
    segmentBy: options.segmentBy ?? null,
    validator: validator ?? null,
    records: instances.length,
    providers: providerReports(instances, prices, calls),
    segments,
    overall: recommendation(learner.global, '', instances.length, false, current, label, rng),
    ...correlations(learner.global, label, n),
    ref,
  };
}

function recommendation(
  model: ConditionalModel,
  segment: string,
  records: number,
  backedOff: boolean,
  current: number[],
  label: (j: number) => string,
  rng: () => number,
): SegmentRecommendation {
  const best = model.bestOrder();
  const now = model.evaluate(current);
  let same = 0;
  for (let d = 0; d < DRAWS; d++) if (model.bestOrder(rng).order.join() === best.order.join()) same++;
  const found = 1 - best.missProbability;
  return {
    segment,
    records,
    backedOff,
    current: current.map(label),
    recommended: best.order.map(label),
    order: best.order,
    currentCostPerRecordUsd: now.expectedCost,
    recommendedCostPerRecordUsd: best.expectedCost,
    foundShare: found,
    currentCostPerFoundUsd: found > 0 ? now.expectedCost / found : null,
    recommendedCostPerFoundUsd: found > 0 ? best.expectedCost / found : null,
    confidence: same / DRAWS,
  };
}

function providerReports(
  instances: RecordedInstance[],
  prices: Price[],
  calls: { provider: string; operation: string }[],
): ProviderReport[] {
  return calls.map((c, j) => {
    let tried = 0;
    let accepted = 0;
    let errors = 0;
    let skipped = 0;
    let rejected = 0;
    for (const i of instances) {
      for (const a of i.attempts) {
        if (a.j !== j) continue;
        if (a.error) errors++;
        else if (a.skipped) skipped++;
        else tried++;
        if (a.accepted) accepted++;
      }
      rejected += i.rejected.filter((x) => x === j).length;
    }
    return {
      ...c,
      price: prices[j]!,
      position: j + 1,
      tried,
      accepted,
      rejected,
      errors,
      skipped,
      rate: tried ? accepted / tried : null,
      interval: wilsonInterval(accepted, tried),
    };
  });
}

/** Overlap, where traffic shows it: j's rate in a context without i vs the same context plus "i failed". */
function correlations(model: ConditionalModel, label: (j: number) => string, n: number) {
  const found: Correlation[] = [];
  let unmeasured = 0;
  const MIN = 20;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      if (i === j) continue;
      let best: Correlation | undefined;
      for (let s = 0; s < 1 << n; s++) {
        if (s & (1 << i) || s & (1 << j)) continue;
        const a = model.estimate(s, j);
        const b = model.estimate(s | (1 << i), j);
        if (a.trials < MIN || b.trials < MIN) continue;
        const c = {
          provider: label(j),
          after: label(i),
          without: { rate: a.accepts / a.trials, trials: Math.round(a.trials) },
          afterFailed: { rate: b.accepts / b.trials, trials: Math.round(b.trials) },
        };
        if (!best || c.without.trials + c.afterFailed.trials > best.without.trials + best.afterFailed.trials)
          best = c;
      }
      if (best) found.push(best);
      else unmeasured++;
    }
  }
  return { correlations: found, unmeasuredPairs: unmeasured };
}
