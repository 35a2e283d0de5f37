import { fileURLToPath } from 'node:url';
import type { Db } from '../db/db.ts';
import { batchProgress, createBatch, settleBatch } from '../engine/batch.ts';
import { cachedPipelineResolver, findProvider } from '../engine/engine-services.ts';
import { fastestAtLimits, forecastBatch } from '../engine/forecast.ts';
import { createGateway } from '../engine/gateway.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import type { CallCounters } from '../engine/run-gateway.ts';
import { openRunQueue } from '../engine/run-queue.ts';
import { startWorker } from '../engine/worker-loop.ts';
import { importFile } from '../import/import-file.ts';
import { recordDemoDeployment } from '../learning/deployments.ts';
import { demoOutreach } from '../outreach/demo-outreach.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import { baseUrlEnvVar } from '../providers/http.ts';
import { LLM_VENDORS } from '../providers/llm/index.ts';
import { type Sandbox, startSandbox } from '../sandbox/start-sandbox.ts';
import { demoCrmSync } from '../sync/demo-sync.ts';
import { buildDemoReport, type DemoReport, type LimitReport } from './demo-report.ts';
import { changedLimits, SANDBOX_MODEL_RPM, sandboxProviders } from './sandbox-providers.ts';

/** The bundled sample: 200 Virginia golf courses (name, website, phone, city, state). */
export const DEMO_CSV = fileURLToPath(new URL('../../data/virginia-golf-courses.csv', import.meta.url));
export const DEMO_PIPELINE = 'golf-courses';

export interface DemoOptions {
  db: Db;
  /** Environment (Config.env); the sandbox's base URLs and keys are laid over it. */
  env: Readonly<Record<string, string | undefined>>;
  /** Courses to enrich (the first N imported). Default: all of them. */
  records?: number;
  /** Runs in flight at once. Default 48 (24 left the model fakes mostly idle, bench/demo.ts). */
  concurrency?: number;
  /** Sandbox world seed; must match the bundled CSV. Default 1. */
  seed?: number;
  /** Multiplies the fakes' latencies (0 = instant, for tests). Default 1. */
  latencyScale?: number;
  /** Pipeline name or file. Default `golf-courses` (tests run variants of it). */
  pipeline?: string;
  /** After the CRM part, the outreach part (docs/outreach.md "Demo"). Default false. */
  outreach?: boolean;
  /** Then a simulated "one month later" freshness pass (docs/freshness.md). Default false. */
  monthLater?: boolean;
  /** Told the sandbox once it is started (bench/demo.ts reads the fakes' load). */
  onSandbox?: (sandbox: Sandbox) => void;
  /** Status lines (the sandbox banner, import counts): to stderr in the CLI. */
  onStatus?: (line: string) => void;
  /** Progress after every tick: runs done, runs total, counters. */
  onProgress?: (
    done: number,
    total: number,
    counters: CallCounters,
    progress: Awaited<ReturnType<typeof batchProgress>>,
  ) => void;
}

/**
 * `sluice demo`, as a function: imports the bundled courses (again: a no-op), starts the sandbox,
 * runs the golf-course pipeline through the real run engine and gateway in-process, and scores the
 * result against the sandbox's ground truth.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = Date.now();
  const { db } = options;
  const status = options.onStatus ?? (() => {});
  const imported = await importFile(db, { file: DEMO_CSV, kind: 'accounts' });
  status(
    `imported ${imported.rowsRead} courses from data/virginia-golf-courses.csv (${imported.inserted} new, ${imported.merged + imported.unchanged} already there)`,
  );
  const rpm = { perMinute: SANDBOX_MODEL_RPM };
  const sandbox = await startSandbox({
    seed: options.seed ?? 1,
    ...(options.latencyScale !== undefined ? { fakes: { latencyScale: options.latencyScale } } : {}),
    perProvider: { perplexity: rpm, anthropic: rpm, openai: rpm },
  });
  options.onSandbox?.(sandbox);
  const providers = sandboxProviders();
  const pipelineRef = options.pipeline ?? DEMO_PIPELINE;
  const queue = await openRunQueue(db);
  try {
    const counters: CallCounters = { calls: 0, cacheHits: 0, costUsd: 0 };
    // No in-process model: AI steps go over HTTP to the sandbox's model fakes, like production.
    const gateway = createGateway({
      db,
      providers,
      env: { ...options.env, ...sandbox.env },
      services: { db },
    });
    const resolvePipeline = cachedPipelineResolver();
    const engine: RunEngine = { db, queue, gateway, resolvePipeline, counters };
    const batch = await createBatch(db, queue, {
      pipeline: pipelineRef,
      selection: options.records !== undefined ? { limit: options.records } : {},
    });
    const limits = await forecastLimits(db, batch.id, await resolvePipeline(pipelineRef), providers);
    status(`batch ${batch.id}: ${batch.total} courses through "${pipelineRef}"`);
    // Only the built-in pipeline is the demo's deployment (tests run variants of it).
    if (pipelineRef === DEMO_PIPELINE) await recordDemoDeployment(db, batch.id);
    const worker = startWorker({
      engine,
      concurrency: options.concurrency ?? 48,
      until: () => settleBatch(db, batch.id),
      onError: (err) => status(`worker: ${(err as Error).message}`),
    });
    const tick = async () => {
      const p = await batchProgress(db, batch.id);
      options.onProgress?.(p.enriched + p.partial + p.failed, p.total, counters, p);
    };
    const ticker = setInterval(() => void tick().catch(() => {}), 500);
    try {
      await worker.done;
    } finally {
      clearInterval(ticker);
    }
    await tick();
    await demoCrmSync({ db, engine, env: options.env, onStatus: status }); // docs/sync.md "Demo"
    if (options.outreach)
      await demoOutreach({ db, engine, world: sandbox.world, env: options.env, onStatus: status }); // docs/outreach.md
    const env = { ...options.env, ...sandbox.env };
    const report = await buildDemoReport(db, batch.id, sandbox.world, providers, {
      wallTimeS: (Date.now() - started) / 1000,
      limits: await withMadeCalls(db, batch.id, limits),
      overHttp: (id) =>
        id === 'llm'
          ? Object.values(LLM_VENDORS).some((v) => Boolean(env[v.baseUrlVar]))
          : Boolean(env[baseUrlEnvVar(id)] || findProvider(id)?.baseUrl),
      fakeRequests: Object.fromEntries(
        Object.entries(sandbox.fakes).map(([id, f]) => [id, f.stats.requests]),
      ),
    });
    // After the report: the month advance changes the world the report is scored against.
    if (options.monthLater) {
      const { demoMonthLater } = await import('./month-later.ts');
      report.month_later = await demoMonthLater({ db, engine, world: sandbox.world, env, onStatus: status });
    }
    return report;
  } finally {
    await queue.stop();
    await sandbox.stop();
  }
}

/**
 * The batch's forecast (before it runs, so this batch's own answers are not counted as cached) at the
 * real limits and at the demo's raised ones: what the demo's speed would be in production.
 */
async function forecastLimits(
  db: Db,
  batchId: number,
  pipeline: Awaited<ReturnType<ReturnType<typeof cachedPipelineResolver>>>,
  sandboxed: (id: string) => ProviderDefinition | undefined,
): Promise<Omit<LimitReport, 'made_at_real_limits_s' | 'changed'> & { changed: ForecastChange[] }> {
  const ids = (
    await db.query<{ account_id: number }>('SELECT account_id FROM runs WHERE batch_id = $1', [batchId])
  ).rows.map((r) => r.account_id);
  const real = await forecastBatch(db, pipeline, ids, findProvider);
  const demo = await forecastBatch(db, pipeline, ids, sandboxed);
  const seconds = (f: typeof real, provider: string) =>
    Math.round(f.lines.filter((l) => l.provider === provider).reduce((s, l) => s + l.minSeconds, 0));
  return {
    at_real_limits_s: Math.round(real.seconds),
    at_sandbox_limits_s: Math.round(demo.seconds),
    changed: changedLimits().map((c) => ({
      ...c,
      at_real_limit_s: seconds(real, c.provider),
      at_sandbox_limit_s: seconds(demo, c.provider),
    })),
  };
}

type ForecastChange = Omit<LimitReport['changed'][number], 'made_requests' | 'made_at_real_limit_s'>;

/**
 * The measured side of the limit report: the requests the batch made (ledger, retries included), per
 * provider and operation, at the least time the providers' real limits allow for them.
 */
async function withMadeCalls(
  db: Db,
  batchId: number,
  forecast: Awaited<ReturnType<typeof forecastLimits>>,
): Promise<LimitReport> {
  const made = await db.query<{ provider: string; operation: string; n: number }>(
    `SELECT provider, operation, count(*)::int AS n FROM ledger
      WHERE batch_id = $1 AND attempt >= 1 GROUP BY provider, operation`,
    [batchId],
  );
  const perProvider = new Map<string, { requests: number; seconds: number }>();
  for (const r of made.rows) {
    const real = findProvider(r.provider);
    if (!real) continue;
    const windows = [...real.limits, ...(real.operations[r.operation]?.limits ?? [])];
    const p = perProvider.get(r.provider) ?? { requests: 0, seconds: 0 };
    p.requests += r.n;
    p.seconds += fastestAtLimits(r.n, windows).seconds;
    perProvider.set(r.provider, p);
  }
  return {
    ...forecast,
    made_at_real_limits_s: Math.round(Math.max(0, ...[...perProvider.values()].map((p) => p.seconds))),
    changed: forecast.changed.map((c) => ({
      ...c,
      made_requests: perProvider.get(c.provider)?.requests ?? 0,
      made_at_real_limit_s: Math.round(perProvider.get(c.provider)?.seconds ?? 0),
    })),
  };
}
