/**
 * Run-engine benchmarks (`npm run bench`): saturation of rate limits through a two-provider
 * waterfall (one process on PGlite, and three worker processes on server Postgres), engine overhead
 * with instant providers on each backend, and cache behaviour (re-runs, duplicate inputs). Prints a
 * readable table, then one JSON line.
 *
 *   npm run bench                                   # full sizes (a few minutes)
 *   npm run bench -- --records 400 --overhead-records 2000 --cache-records 300
 *   npm run bench -- --only saturation,overhead     # scenarios: saturation, workers, overhead, cache, two-window
 *   npm run bench -- --only two-window --two-window-calls 240,1500 --two-window-margin-ms 40
 *   npm run bench -- --only overhead --backends postgres   # per-backend scenarios on one backend only
 *
 * Every scenario also prints a reference measured in the same run on the same database (raw INSERT
 * round trips/s and pg-boss send/fetch/complete jobs/s, bench/reference.ts) and the ratio of each
 * per-second figure to it: machines of one kind differ by 2× and more.
 *
 * Server Postgres scenarios need DATABASE_URL or TEST_DATABASE_URL; without it they print null.
 */

import { createBatch } from '../src/engine/batch.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { spawnWorker } from '../test/helpers/child-worker.ts';
import type { FakeApiStats } from '../test/helpers/fake-limited-server.ts';
import { chainPipeline, waterfallPipeline } from '../test/helpers/fake-pipelines.ts';
import { PG_URL, runInProcess, scenarioDb, seedAccounts, startFakeServerProcess } from './bench-lib.ts';
import { againstReference, describeReference, measureReference, type Reference } from './reference.ts';
import { describeTwoWindow, twoWindow } from './two-window.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const only = (() => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? new Set((process.argv[i + 1] ?? '').split(',')) : undefined;
})();
const enabled = (s: string) => !only || only.has(s);
/** `--backends pglite` or `postgres`: run the per-backend scenarios on those only (default both). */
const backendsFlag = (() => {
  const i = process.argv.indexOf('--backends');
  return i >= 0 ? new Set((process.argv[i + 1] ?? '').split(',')) : undefined;
})();
const onBackend = (b: string) => !backendsFlag || backendsFlag.has(b);
const log = (s: string) => process.stderr.write(`${s}\n`);

const RECORDS = flag('records', 2000);
const OVERHEAD_RECORDS = flag('overhead-records', 10_000);
const CACHE_RECORDS = flag('cache-records', 1000);
const RATE_A = 20;
const RATE_B = 5;
/** Every 5th account is unknown to A, so B gets 20% of the records: A is the binding limit. */
const NOT_FOUND_EVERY = 5;
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The same-run reference per backend, measured once, on a scenario database (bench/reference.ts). */
const references = new Map<string, Reference>();
async function reference(backend: 'pglite' | 'postgres', parallel: number): Promise<Reference> {
  const key = `${backend}:${parallel}`;
  const known = references.get(key);
  if (known) return known;
  log(`reference: INSERT round trips and pg-boss jobs on ${backend}, ${parallel} at a time…`);
  const s = await scenarioDb(backend);
  try {
    const ref = await measureReference(s.db, parallel);
    references.set(key, ref);
    const tag = backend === 'postgres' ? 'pg' : 'pglite';
    results[`ref_insert_per_s_${tag}_x${parallel}`] = Math.round(ref.insertPerS);
    results[`ref_boss_jobs_per_s_${tag}_x${parallel}`] = Math.round(ref.bossJobsPerS);
    details.push([`reference (${backend}, ${parallel} at a time)`, describeReference(ref)]);
    return ref;
  } finally {
    await s.cleanup();
  }
}

const results: Record<string, number | null> = {
  saturation_ratio: null,
  saturation_ratio_3_workers: null,
  saturation_ratio_pg_1_process: null,
  throttled_responses: null,
  overhead_calls_per_s_pg: null,
  overhead_calls_per_s_pglite: null,
  rerun_paid_calls: null,
  duplicate_input_paid_calls: null,
  unique_keys: null,
};
const details: string[][] = [];
/** Each figure is also printed as soon as it is measured (a long run cut short keeps what it had). */
const detailsPush = details.push.bind(details);
details.push = (...rows: string[][]) => {
  for (const [k, v] of rows) log(`= ${k}: ${v}`);
  return detailsPush(...rows);
};

/** Theoretical minimum wall time of the waterfall: the binding provider at its limit. */
function theoreticalSeconds(callsA: number, callsB: number): number {
  return Math.max(callsA / RATE_A, callsB / RATE_B);
}

/**
 * Achieved calls/s of the binding provider (the one with the most calls per unit of its limit),
 * from its first to its last request as the fake server saw them, ÷ its limit.
 */
function saturation(st: Record<string, FakeApiStats>): { ratio: number; binding: string; rate: number } {
  const a = st.a!;
  const b = st.b!;
  const [id, s, limit] =
    a.requests / RATE_A >= b.requests / RATE_B ? (['a', a, RATE_A] as const) : (['b', b, RATE_B] as const);
  const seconds = ((s.lastAt ?? 0) - (s.firstAt ?? 0)) / 1000;
  const rate = seconds > 0 ? (s.requests - 1) / seconds : 0;
  return { ratio: round(rate / limit, 3), binding: id, rate: round(rate, 2) };
}

/** Spacing margin per limit window given to the gateway (its default: 40 ms); see the note printed below. */
const MARGIN_MS = flag('limit-margin-ms', 50);

const waterfallSpec = {
  a: { ratePerSecond: RATE_A, latencyMs: 150, notFoundEvery: NOT_FOUND_EVERY },
  b: { ratePerSecond: RATE_B, latencyMs: 150 },
};

for (const backend of ['pglite', 'postgres'] as const) {
  if (!onBackend(backend)) continue;
  if (!enabled('saturation')) break;
  if (backend === 'postgres' && !PG_URL) {
    log('saturation, one process on server Postgres: skipped (no DATABASE_URL / TEST_DATABASE_URL)');
    continue;
  }
  log(
    `saturation: ${RECORDS} records, waterfall A (${RATE_A}/s, 150 ms) then B (${RATE_B}/s), one process on ${backend}…`,
  );
  const server = await startFakeServerProcess(waterfallSpec);
  const s = await scenarioDb(backend);
  try {
    await seedAccounts(s.db, range(RECORDS));
    const r = await runInProcess({
      db: s.db,
      fakeUrl: server.url,
      apis: { a: RATE_A, b: RATE_B },
      pipeline: waterfallPipeline(['a', 'b']),
      concurrency: 40,
      limitMarginMs: MARGIN_MS,
    });
    const st = await server.stats();
    const ideal = theoreticalSeconds(st.a!.requests, st.b!.requests);
    const sat = saturation(st);
    const throttled = st.a!.throttled + st.b!.throttled;
    results[backend === 'pglite' ? 'saturation_ratio' : 'saturation_ratio_pg_1_process'] = sat.ratio;
    const ref = await reference(backend, 40);
    results.throttled_responses = (results.throttled_responses ?? 0) + throttled;
    details.push([
      `saturation (1 process, ${backend})`,
      `${st.a!.requests} A + ${st.b!.requests} B calls; binding ${sat.binding} at ${sat.rate}/s${againstReference(sat.rate, ref)}; batch wall ${(r.wallMs / 1000).toFixed(1)} s (ideal ${ideal.toFixed(1)} s); ` +
        `max/s A ${st.a!.maxPerSecond} B ${st.b!.maxPerSecond}; throttled ${throttled}; ` +
        `runs enriched ${r.progress.enriched} partial ${r.progress.partial} failed ${r.progress.failed}`,
    ]);
  } finally {
    await s.cleanup();
    await server.close();
  }
}

if (enabled('workers')) {
  if (!PG_URL) log('saturation with 3 workers: skipped (no DATABASE_URL / TEST_DATABASE_URL)');
  else {
    log(`saturation: ${RECORDS} records, 3 worker processes on server Postgres…`);
    const server = await startFakeServerProcess(waterfallSpec);
    const s = await scenarioDb('postgres');
    try {
      const env = {
        ...s.env,
        FAKE_URL: server.url,
        FAKE_APIS: JSON.stringify({ a: RATE_A, b: RATE_B }),
        PIPELINES: JSON.stringify([{ kind: 'waterfall', providers: ['a', 'b'] }]),
        CONCURRENCY: '15',
        LIMIT_MARGIN_MS: String(MARGIN_MS),
        UNTIL_BATCH: '1',
      };
      const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
      await Promise.all(workers.map((w) => w.waitFor((e) => e.event === 'ready', 60_000)));
      await seedAccounts(s.db, range(RECORDS));
      const queue = await openRunQueue(s.db);
      const t0 = performance.now();
      const batch = await createBatch(s.db, queue, { pipeline: 'waterfall', selection: {} });
      if (batch.id !== 1) throw new Error('expected batch 1 in a fresh schema');
      await Promise.all(workers.map((w) => w.waitFor((e) => e.event === 'done', 3_600_000)));
      const wall = (performance.now() - t0) / 1000;
      await queue.stop();
      const st = await server.stats();
      const ideal = theoreticalSeconds(st.a!.requests, st.b!.requests);
      const sat = saturation(st);
      results.saturation_ratio_3_workers = sat.ratio;
      const ref = await reference('postgres', 15);
      const throttled = st.a!.throttled + st.b!.throttled;
      results.throttled_responses = (results.throttled_responses ?? 0) + throttled;
      const perWorker = workers.map(
        (w) => w.events.filter((e) => e.outcome === 'enriched' || e.outcome === 'partial').length,
      );
      details.push([
        'saturation (3 workers, Postgres)',
        `${st.a!.requests} A + ${st.b!.requests} B calls; binding ${sat.binding} at ${sat.rate}/s${againstReference(sat.rate, ref)}; batch wall ${wall.toFixed(1)} s (ideal ${ideal.toFixed(1)} s); ` +
          `max/s A ${st.a!.maxPerSecond} B ${st.b!.maxPerSecond}; throttled ${throttled}; runs per worker ${perWorker.join('/')}`,
      ]);
    } finally {
      await s.cleanup();
      await server.close();
    }
  }
}

if (enabled('overhead')) {
  for (const backend of ['postgres', 'pglite'] as const) {
    if (!onBackend(backend)) continue;
    if (backend === 'postgres' && !PG_URL) {
      log('overhead on server Postgres: skipped (no DATABASE_URL / TEST_DATABASE_URL)');
      continue;
    }
    log(`overhead: ${OVERHEAD_RECORDS} records × 3 calls, instant unlimited provider, ${backend}…`);
    const server = await startFakeServerProcess({ fast: {} });
    const s = await scenarioDb(backend);
    try {
      await seedAccounts(s.db, range(OVERHEAD_RECORDS));
      const r = await runInProcess({
        db: s.db,
        fakeUrl: server.url,
        apis: { fast: undefined },
        pipeline: chainPipeline('fast', 3),
        concurrency: backend === 'postgres' ? 64 : 32,
      });
      const calls = r.progress.calls;
      const perSecond = round(calls / (r.wallMs / 1000), 0);
      const tag = backend === 'postgres' ? 'pg' : 'pglite';
      results[`overhead_calls_per_s_${tag}`] = perSecond;
      const ref = await reference(backend, backend === 'postgres' ? 64 : 32);
      results[`overhead_calls_per_insert_${tag}`] = round(perSecond / ref.insertPerS, 3);
      results[`overhead_calls_per_boss_job_${tag}`] = round(perSecond / ref.bossJobsPerS, 3);
      details.push([
        `overhead (${backend})`,
        `${calls} calls (${r.progress.enriched} runs enriched) in ${(r.wallMs / 1000).toFixed(1)} s = ${perSecond} calls/s${againstReference(perSecond, ref)}, ` +
          `${round(r.progress.enriched / (r.wallMs / 1000), 0)} runs/s${againstReference(r.progress.enriched / (r.wallMs / 1000), ref)}`,
      ]);
    } finally {
      await s.cleanup();
      await server.close();
    }
  }
}

if (enabled('cache')) {
  log(`cache: ${CACHE_RECORDS} records run twice; then input with 30% duplicate keys…`);
  const server = await startFakeServerProcess({ c: { latencyMs: 5 }, u: { latencyMs: 30 } });
  try {
    const s = await scenarioDb('pglite');
    try {
      await seedAccounts(s.db, range(CACHE_RECORDS));
      const opts = {
        db: s.db,
        fakeUrl: server.url,
        apis: { c: undefined },
        pipeline: chainPipeline('c', 3),
        concurrency: 32,
      };
      await runInProcess(opts);
      const first = (await server.stats()).c!.requests;
      const second = await runInProcess(opts);
      results.rerun_paid_calls = (await server.stats()).c!.requests - first;
      const ref = await reference('pglite', 32);
      const hitsPerS = second.progress.calls / (second.wallMs / 1000);
      details.push([
        'cache: re-run',
        `first run ${first} paid calls; second run ${results.rerun_paid_calls} paid, ${second.progress.cacheHits} cache hits, ` +
          `${second.progress.enriched} runs enriched, ${round(hitsPerS, 0)} calls/s${againstReference(hitsPerS, ref)}`,
      ]);
    } finally {
      await s.cleanup();
    }
    const d = await scenarioDb('pglite');
    try {
      const unique = Math.round(CACHE_RECORDS * 0.7);
      const numbers = [
        ...range(unique),
        ...range(CACHE_RECORDS - unique).map((i) => ((i * 7919) % unique) + 1),
      ];
      await seedAccounts(d.db, numbers);
      const r = await runInProcess({
        db: d.db,
        fakeUrl: server.url,
        apis: { u: undefined },
        pipeline: waterfallPipeline(['u']),
        concurrency: 32,
      });
      results.duplicate_input_paid_calls = (await server.stats()).u!.requests;
      results.unique_keys = unique;
      details.push([
        'cache: 30% duplicate keys',
        `${numbers.length} records, ${unique} unique keys → ${results.duplicate_input_paid_calls} paid calls, ${r.progress.cacheHits} cache hits/coalesced`,
      ]);
    } finally {
      await d.cleanup();
    }
  } finally {
    await server.close();
  }
}

const TWO_WINDOW_CALLS = (() => {
  const i = process.argv.indexOf('--two-window-calls');
  return i >= 0 ? (process.argv[i + 1] ?? '').split(',').map(Number) : [240, 1500];
})();
const TWO_WINDOW_MARGIN_MS = flag('two-window-margin-ms', 40);
if (enabled('two-window')) {
  for (const backend of ['pglite', 'postgres'] as const) {
    if (!onBackend(backend)) continue;
    if (backend === 'postgres' && !PG_URL) {
      log('two-window on server Postgres: skipped (no DATABASE_URL / TEST_DATABASE_URL)');
      continue;
    }
    const tag = backend === 'postgres' ? 'pg' : 'pglite';
    const ref = await reference(backend, 64);
    for (const calls of TWO_WINDOW_CALLS) {
      log(`two-window: ${calls} calls at 15/s + 500/min, one process on ${backend}…`);
      const t = await twoWindow(backend, calls, { marginMs: TWO_WINDOW_MARGIN_MS, concurrency: 64 });
      results[`two_window_ratio_${calls}_${tag}`] = t.ratio;
      results[`two_window_over_limit_${calls}_${tag}`] = t.throttled;
      results[`two_window_max_15s_${calls}_${tag}`] = t.windows[0]!.seen;
      results[`two_window_max_500min_${calls}_${tag}`] = t.windows[1]!.seen;
      results[`two_window_offset_spread_ms_${calls}_${tag}`] = round(t.offsetMs.max - t.offsetMs.min, 1);
      const rate = t.requests / t.spanS;
      details.push([
        `two-window ${calls} (${backend})`,
        `${describeTwoWindow(t)}; ${round(rate, 2)} calls/s${againstReference(rate, ref)}`,
      ]);
    }
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const width = Math.max(...details.map((d) => d[0]!.length));
process.stdout.write(`${details.map(([k, v]) => `${k!.padEnd(width)}  ${v}`).join('\n')}\n\n`);
const keyWidth = Math.max(...Object.keys(results).map((k) => k.length));
const targets: Record<string, string> = {
  saturation_ratio: '>= 0.95',
  saturation_ratio_3_workers: '>= 0.95',
  saturation_ratio_pg_1_process: '>= 0.95',
  throttled_responses: '0',
  overhead_calls_per_s_pg: '>= 1000',
  overhead_calls_per_s_pglite: '>= 300',
  rerun_paid_calls: '0',
  duplicate_input_paid_calls: '= unique_keys',
};
for (const k of Object.keys(results)) {
  if (k.startsWith('two_window_ratio_')) targets[k] = '>= 0.95';
  if (k.startsWith('two_window_over_limit_')) targets[k] = '0';
  if (k.startsWith('two_window_max_15s_')) targets[k] = '<= 15';
  if (k.startsWith('two_window_max_500min_')) targets[k] = '<= 500';
}
for (const [k, v] of Object.entries(results)) {
  process.stdout.write(
    `${k.padEnd(keyWidth)}  ${String(v ?? 'n/a').padStart(8)}  ${targets[k] ? `target ${targets[k]}` : ''}\n`,
  );
}
process.stdout.write(
  `\nsaturation uses a ${MARGIN_MS} ms spacing margin per limit window (--limit-margin-ms; the gateway default is 40):\n` +
    'the fake server counts arrivals strictly, and send-time jitter on a busy machine would otherwise be throttled.\n',
);
process.stdout.write(`${JSON.stringify(results)}\n`);
process.exit(0);
