import { expect, it } from 'vitest';
import { fastestAtLimits } from '../src/engine/forecast.ts';
import { fastestSchedule } from '../src/limits/limit-spec.ts';
import { apollo } from '../src/providers/apollo/index.ts';

/**
 * The forecast's "least time at the rate limits": a window lets its first `limit` calls go at once,
 * so a batch smaller than an hourly window is bound by the per-minute one (the demo used to print
 * 18 minutes for 600 Apollo calls: 600 x 1 h / 2000, a throughput figure for a window never filled).
 */
it('is the fastest schedule the windows allow, bound by the window that fills', () => {
  // Apollo's real windows: 200/min + 2000/h.
  expect(apollo.limits.map((l) => [l.limit, l.windowMs])).toEqual(
    expect.arrayContaining([
      [200, 60_000],
      [2000, 3_600_000],
    ]),
  );
  const windows = apollo.limits;
  expect(fastestAtLimits(200, windows).seconds).toBe(0);
  expect(fastestAtLimits(600, windows)).toEqual({ seconds: 120, limit: '200/min' });
  // Past 2000 calls the hourly window binds.
  const past = fastestAtLimits(5000, windows);
  expect(past.limit).toBe('2000/h');
  expect(past.seconds).toBeGreaterThan(2 * 3600);
  for (const n of [1, 201, 1999, 2001, 4321])
    expect(fastestAtLimits(n, windows).seconds).toBe(fastestSchedule(n, windows).at(-1)! / 1000);
  expect(fastestAtLimits(0, windows)).toEqual({ seconds: 0, limit: undefined });
  expect(fastestAtLimits(2400, [{ limit: 50, windowMs: 60_000, label: '50/min' }]).seconds).toBe(47 * 60);
});
