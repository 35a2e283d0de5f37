/**
 * Waterfall optimizer bench (`npm run bench:optimizer`): replays sandbox-like scenarios where every
 * provider's answer for every record is known (bench/optimizer-scenarios.ts). A cost-aware cascading
 * Thompson learner (src/learning/optimizer/) orders the waterfall for each training record, paying only
 * for what that order tries and learning only what it sees; its final order is then priced on held-out
 * records against the exact optimum of those records (the subset DP). Exploration cost = what the
 * learner spent on the training stream minus what the best static order for that stream would have.
 *
 *   npm run bench:optimizer
 *   npm run bench:optimizer -- --train 20000 --held-out 10000 --seeds 5
 */
import { performance } from 'node:perf_hooks';
import { CascadeLearner } from '../src/learning/optimizer/cascade-learner.ts';
import { exactOrder } from '../src/learning/optimizer/exact-order.ts';
import {
  bySegment,
  foundCount,
  type OutcomeRow,
  orderCost,
} from '../src/learning/optimizer/outcome-table.ts';
import { seededRng } from '../src/learning/optimizer/random.ts';
import { buildRow, PROVIDERS, SCENARIOS, type Scenario } from './optimizer-scenarios.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const TRAIN = flag('train', 20_000);
const HELD = flag('held-out', 10_000);
const SEEDS = flag('seeds', 3);
const n = PROVIDERS.length;
const listCost = PROVIDERS.map((p) => p.priceUsd);

function rows(s: Scenario, which: 'train' | 'heldOut', count: number, seed: number): OutcomeRow[] {
  const rng = seededRng(seed);
  return Array.from({ length: count }, (_, i) => {
    const f = s[which](rng, i, count);
    return buildRow(f.found, s.segmented ? f.segment : '', rng);
  });
}

/** Cost of per-segment orders (or one order for '') on rows. */
function segmentedCost(all: OutcomeRow[], orderFor: (segment: string) => number[]): number {
  let total = 0;
  for (const [seg, list] of bySegment(all))
    total += orderCost({ providers: [], rows: list }, orderFor(seg), list);
  return total;
}
function optimum(all: OutcomeRow[]): number {
  let total = 0;
  for (const list of bySegment(all).values()) total += exactOrder(n, list).cost;
  return total;
}
/** Simon–Kadane: c/p ascending on unconditional rates, as if the providers were independent. */
function cOverP(train: OutcomeRow[]): number[] {
  const stats = PROVIDERS.map((_, j) => {
    let c = 0;
    let a = 0;
    for (const r of train) {
      c += r.cost[j]!;
      if (r.accept & (1 << j)) a++;
    }
    return { j, ratio: a ? c / a : Number.POSITIVE_INFINITY };
  });
  return stats.sort((x, y) => x.ratio - y.ratio).map((s) => s.j);
}

interface Result {
  scenario: string;
  seed: number;
  ratio: number;
  handRatio: number;
  cOverPRatio: number;
  explorationUsd: number;
  explorationPct: number;
  order: string;
  optimumOrder: string;
  foundShare: number;
}

const results: Result[] = [];
const t0 = performance.now();
for (const s of SCENARIOS) {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const train = rows(s, 'train', TRAIN, seed * 1000 + 1);
    const held = rows(s, 'heldOut', HELD, seed * 1000 + 2);
    const learner = new CascadeLearner(n, listCost, { discount: 0.9998, priorStrength: 2 });
    const rng = seededRng(seed * 1000 + 3);
    let spent = 0;
    for (const r of train) {
      const order = learner.order(r.segment, rng);
      const attempts = [];
      for (const j of order) {
        const accepted = (r.accept & (1 << j)) !== 0;
        attempts.push({ j, accepted, cost: r.cost[j]! });
        spent += r.cost[j]!;
        if (accepted) break;
      }
      learner.learn(r.segment, attempts);
    }
    const chosen = (seg: string) => learner.order(seg);
    const best = optimum(held);
    const trainBest = optimum(train);
    const cp = cOverP(train);
    const names = (o: number[]) => o.map((j) => PROVIDERS[j]!.id).join(' → ');
    const segs = [...bySegment(held).keys()];
    results.push({
      scenario: s.name,
      seed,
      ratio: segmentedCost(held, chosen) / best,
      handRatio: segmentedCost(held, () => [0, 1, 2, 3, 4]) / best,
      cOverPRatio: segmentedCost(held, () => cp) / best,
      explorationUsd: spent - trainBest,
      explorationPct: (spent / trainBest - 1) * 100,
      order: segs.map((g) => `${g ? `${g}: ` : ''}${names(chosen(g))}`).join(' | '),
      optimumOrder: segs
        .map((g) => `${g ? `${g}: ` : ''}${names(exactOrder(n, bySegment(held).get(g)!).order)}`)
        .join(' | '),
      foundShare: foundCount(held) / held.length,
    });
  }
}
const elapsed = (performance.now() - t0) / 1000;

// The exact optimum's own speed: 12 providers, 20,000 records.
const big = seededRng(7);
const bigRows: OutcomeRow[] = Array.from({ length: 20_000 }, () => {
  const cost = Float64Array.from({ length: 12 }, () => big() * 0.05);
  let accept = 0;
  for (let j = 0; j < 12; j++) if (big() < 0.3) accept |= 1 << j;
  return { cost, accept, segment: '' };
});
const d0 = performance.now();
exactOrder(12, bigRows);
const dpMs = performance.now() - d0;

const pad = (s: string, w: number) => s.padEnd(w);
console.log(
  `waterfall optimizer: ${TRAIN} training records (learned online, Thompson), ${HELD} held-out records, seeds 1..${SEEDS}`,
);
console.log('cost ÷ optimum on held-out records (optimum = exact subset DP over the held-out outcome table)');
console.log(
  `${pad('scenario', 12)} ${pad('seed', 4)} ${pad('learned', 8)} ${pad('c/p', 8)} ${pad('hand', 8)} ${pad('explore $', 10)} ${pad('explore %', 9)}  learned order`,
);
for (const r of results)
  console.log(
    `${pad(r.scenario, 12)} ${pad(String(r.seed), 4)} ${pad(r.ratio.toFixed(4), 8)} ${pad(r.cOverPRatio.toFixed(4), 8)} ${pad(r.handRatio.toFixed(4), 8)} ${pad(r.explorationUsd.toFixed(2), 10)} ${pad(`${r.explorationPct.toFixed(1)}%`, 9)}  ${r.order}${r.order === r.optimumOrder ? '  (= optimum)' : `  (optimum: ${r.optimumOrder})`}`,
  );
const worst = Math.max(...results.map((r) => r.ratio));
console.log();
console.log(`worst learned ratio ${worst.toFixed(4)} (target ≤ 1.02)`);
console.log(
  `exact DP, 12 providers × 20,000 records: ${dpMs.toFixed(1)} ms; whole bench ${elapsed.toFixed(1)} s`,
);
console.log(
  JSON.stringify({ bench: 'optimizer', train: TRAIN, heldOut: HELD, worstRatio: worst, dpMs, results }),
);
