/**
 * Two-window saturation (issue 7): a Hunter-like account, 15/s + 500/min, against a fake in its own
 * process that counts every request in sliding windows as the provider does and answers 429 past
 * either. A batch of N runs, one call each, goes through the whole engine (queue, worker, gateway).
 * The optimum is the fastest schedule both windows allow for N calls (src/limits/limit-spec.ts); the
 * figure is optimum ÷ the span the fake saw (first to last request). Also measured: the offset of
 * each request's arrival at the fake from its recorded place (its claim, or where its request was
 * written to the socket when that was later: what the margin has to absorb).
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busiestWindow, fastestSchedule, formatLimits } from '../src/limits/limit-spec.ts';
import type { RateLimitSpec } from '../src/providers/define-provider.ts';
import { chainPipeline } from '../test/helpers/fake-pipelines.ts';
import { fakeProvider } from '../test/helpers/fake-providers.ts';
import { runInProcess, scenarioDb, seedAccounts, startFakeServerProcess } from './bench-lib.ts';

export const TWO_WINDOWS: RateLimitSpec[] = [
  { limit: 15, windowMs: 1_000, label: '15/s' },
  { limit: 500, windowMs: 60_000, label: '500/min' },
];

export interface TwoWindowResult {
  backend: string;
  calls: number;
  requests: number;
  throttled: number;
  optimumS: number;
  spanS: number;
  wallS: number;
  /** optimum ÷ span: 1 is the fastest the windows allow. */
  ratio: number;
  windows: { label: string; limit: number; seen: number }[];
  /** Arrival at the fake − recorded place, ms: min, median, p99, max. */
  offsetMs: { min: number; p50: number; p99: number; max: number };
  /** Written to the socket − recorded place in this process, ms (p99, max): lateness left to the margin. */
  sendLateMs: { p99: number; max: number };
  rebooked: number;
  marginMs: number;
  /** Per request: query, booked place, send (local epoch ms), arrival at the fake. */
  samples: { q: string; booked: number; sent: number; arrived: number }[];
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const r1 = (n: number) => Math.round(n * 10) / 10;

export async function twoWindow(
  backend: 'pglite' | 'postgres',
  calls: number,
  options: { marginMs: number; concurrency: number },
): Promise<TwoWindowResult> {
  const server = await startFakeServerProcess({ h: { windows: TWO_WINDOWS, latencyMs: 50 } });
  const s = await scenarioDb(backend);
  const booked = new Map<string, { booked: number; sent: number }>();
  const attempts: { q: string; booked: number; sent: number }[] = [];
  try {
    await seedAccounts(
      s.db,
      Array.from({ length: calls }, (_, i) => i + 1),
    );
    const r = await runInProcess({
      db: s.db,
      fakeUrl: server.url,
      apis: { h: undefined },
      providers: new Map([['h', fakeProvider('h', { limits: TWO_WINDOWS })]]),
      pipeline: chainPipeline('h', 1, 'two-window'),
      concurrency: options.concurrency,
      limitMarginMs: options.marginMs,
      gateway: {
        // Date.now() is the gateway's clock; the fake stamps epoch ms too (same machine).
        onLimitedSend: (e) => {
          const q = (e.input as { q: string }).q;
          booked.set(q, { booked: e.bookedAtMs, sent: e.sentAtMs });
          attempts.push({ q, booked: e.bookedAtMs, sent: e.sentAtMs });
        },
      },
    });
    const st = (await server.stats()).h!;
    const at = st.arrivals.map((a) => a.at);
    const optimumMs = fastestSchedule(calls, TWO_WINDOWS).at(-1)!;
    const spanMs = Math.max(...at) - Math.min(...at);
    const offsets: number[] = [];
    const late: number[] = [];
    const samples: TwoWindowResult['samples'] = [];
    for (const a of st.arrivals) {
      const b = booked.get(a.q);
      if (!b) continue;
      samples.push({ q: a.q, booked: b.booked, sent: b.sent, arrived: a.at });
      offsets.push(a.at - b.booked);
      late.push(b.sent - b.booked);
    }
    // For a closer look: `TWO_WINDOW_SAMPLES=<dir>` writes every request's times there.
    if (process.env.TWO_WINDOW_SAMPLES)
      writeFileSync(
        join(process.env.TWO_WINDOW_SAMPLES, `two-window-${calls}-${backend}.json`),
        JSON.stringify({ samples, attempts, rejections: st.rejections ?? [] }),
      );
    return {
      backend,
      calls,
      requests: st.requests,
      throttled: st.throttled,
      optimumS: optimumMs / 1000,
      spanS: spanMs / 1000,
      wallS: (Math.max(...at) - r.startedAt) / 1000,
      ratio: Math.round((optimumMs / spanMs) * 1000) / 1000,
      windows: TWO_WINDOWS.map((w) => ({
        label: w.label!,
        limit: w.limit,
        seen: busiestWindow(at, w.windowMs),
      })),
      offsetMs: {
        min: r1(q(offsets, 0)),
        p50: r1(q(offsets, 0.5)),
        p99: r1(q(offsets, 0.99)),
        max: r1(q(offsets, 1)),
      },
      sendLateMs: { p99: r1(q(late, 0.99)), max: r1(q(late, 1)) },
      rebooked: r.gateway.stats.rebooked,
      marginMs: options.marginMs,
      samples,
    };
  } finally {
    await s.cleanup();
    await server.close();
  }
}

export function describeTwoWindow(t: TwoWindowResult): string {
  const spread = t.offsetMs.max - t.offsetMs.min;
  return (
    `${t.calls} calls at ${formatLimits(TWO_WINDOWS)}: span ${t.spanS.toFixed(2)} s vs fastest allowed ${t.optimumS.toFixed(2)} s = ratio ${t.ratio.toFixed(3)}; ` +
    `batch wall ${t.wallS.toFixed(1)} s; max in any window ${t.windows.map((w) => `${w.label} ${w.seen}/${w.limit}`).join(', ')}; ` +
    `${t.requests} requests, ${t.throttled} over a window (429); ` +
    `arrival − recorded place ms min ${t.offsetMs.min} p50 ${t.offsetMs.p50} p99 ${t.offsetMs.p99} max ${t.offsetMs.max} (spread ${r1(spread)}, margin ${t.marginMs}); ` +
    `written − recorded p99 ${t.sendLateMs.p99} max ${t.sendLateMs.max} ms; places given up ${t.rebooked}`
  );
}
