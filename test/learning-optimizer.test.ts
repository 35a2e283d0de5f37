import { expect, it } from 'vitest';
import { CascadeLearner } from '../src/learning/optimizer/cascade-learner.ts';
import { exactOrder } from '../src/learning/optimizer/exact-order.ts';
import { type OutcomeRow, orderCost } from '../src/learning/optimizer/outcome-table.ts';
import { seededRng } from '../src/learning/optimizer/random.ts';

function permutations(xs: number[]): number[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

it('the subset DP finds the same cost as brute force over every order, and an order costs what it should', () => {
  // Hand-checked: A costs 1 and finds record 1; B costs 3 and finds both. A→B = 1+1 + 3 (record 2) = 5, B→A = 6.
  const hand: OutcomeRow[] = [
    { cost: Float64Array.from([1, 3]), accept: 0b11, segment: '' },
    { cost: Float64Array.from([1, 3]), accept: 0b10, segment: '' },
  ];
  const t = { providers: ['a', 'b'], rows: hand };
  expect(orderCost(t, [0, 1])).toBe(5);
  expect(orderCost(t, [1, 0])).toBe(6);
  expect(exactOrder(2, hand)).toEqual({ order: [0, 1], cost: 5 });
  const rng = seededRng(42);
  for (let instance = 0; instance < 30; instance++) {
    const n = 2 + (instance % 4);
    const rows: OutcomeRow[] = Array.from({ length: 40 }, () => {
      let accept = 0;
      // a shared latent makes providers correlated, as resellers are
      const z = rng();
      for (let j = 0; j < n; j++) if (rng() < 0.5 * z + 0.3 * rng()) accept |= 1 << j;
      return { cost: Float64Array.from({ length: n }, () => Math.round(rng() * 10)), accept, segment: '' };
    });
    const table = { providers: [], rows };
    const brute = Math.min(...permutations([...Array(n).keys()]).map((p) => orderCost(table, p)));
    const dp = exactOrder(n, rows);
    expect(dp.cost).toBeCloseTo(brute, 9);
    expect(orderCost(table, dp.order)).toBeCloseTo(brute, 9);
  }
});

it('learns conditional rates from censored traffic and puts a cheap reseller before its source', () => {
  // 0 = source (costs 5, finds 60%), 1 = reseller (costs 1, finds half of what the source finds),
  // 2 = independent (costs 2, finds 50%). Optimum: reseller, then independent, then source.
  const rng = seededRng(7);
  const learner = new CascadeLearner(3, [5, 1, 2]);
  const draw = () => {
    const source = rng() < 0.6;
    return [source, source && rng() < 0.5, rng() < 0.5];
  };
  for (let i = 0; i < 4000; i++) {
    const found = draw();
    const attempts = [];
    for (const j of learner.order('', rng)) {
      attempts.push({ j, accepted: found[j]!, cost: [5, 1, 2][j]! });
      if (found[j]) break;
    }
    learner.learn('', attempts);
  }
  expect(learner.order('')).toEqual([1, 2, 0]);
  // After the reseller (and the independent one) failed, the source finds 0.3 / 0.7 = 43%, not its 60%.
  const source = learner.global.estimate(0b110, 0);
  expect(source.trials).toBeGreaterThan(500);
  expect(source.p).toBeGreaterThan(0.38);
  expect(source.p).toBeLessThan(0.48);
});
