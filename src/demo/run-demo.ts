import { fileURLToPath } from 'node:url';
import type { Db } from '../db/db.ts';
import { batchProgress, createBatch, settleBatch } from '../engine/batch.ts';
import { cachedPipelineResolver } from '../engine/engine-services.ts';
import { createGateway } from '../engine/gateway.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import type { CallCounters } from '../engine/run-gateway.ts';
import { openRunQueue } from '../engine/run-queue.ts';
import { startWorker } from '../engine/worker-loop.ts';
import { importFile } from '../import/import-file.ts';
import { recordDemoDeployment } from '../learning/deployments.ts';
import { startSandbox } from '../sandbox/start-sandbox.ts';
import { buildDemoReport, type DemoReport } from './demo-report.ts';
import { sandboxProviders } from './sandbox-providers.ts';

/** The bundled sample: 200 Virginia golf courses (name, website, phone, city, state). */
export const DEMO_CSV = fileURLToPath(new URL('../../data/virginia-golf-courses.csv', import.meta.url));
export const DEMO_PIPELINE = 'golf-courses';

export interface DemoOptions {
  db: Db;
  /** Environment (Config.env); the sandbox's base URLs and keys are laid over it. */
  env: Readonly<Record<string, string | undefined>>;
  /** Courses to enrich (the first N imported). Default: all of them. */
  records?: number;
  /** Runs in flight at once. Default 24. */
  concurrency?: number;
  /** Sandbox world seed; must match the bundled CSV. Default 1. */
  seed?: number;
  /** Multiplies the fakes' latencies (0 = instant, for tests). Default 1. */
  latencyScale?: number;
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
  const sandbox = await startSandbox({
    seed: options.seed ?? 1,
    ...(options.latencyScale !== undefined ? { fakes: { latencyScale: options.latencyScale } } : {}),
  });
  const providers = sandboxProviders();
  const queue = await openRunQueue(db);
  try {
    const counters: CallCounters = { calls: 0, cacheHits: 0, costUsd: 0 };
    const gateway = createGateway({
      db,
      providers,
      env: { ...options.env, ...sandbox.env },
      services: { db, languageModel: sandbox.languageModel },
    });
    const engine: RunEngine = { db, queue, gateway, resolvePipeline: cachedPipelineResolver(), counters };
    const batch = await createBatch(db, queue, {
      pipeline: DEMO_PIPELINE,
      selection: options.records !== undefined ? { limit: options.records } : {},
    });
    status(`batch ${batch.id}: ${batch.total} courses through "${DEMO_PIPELINE}"`);
    await recordDemoDeployment(db, batch.id);
    const worker = startWorker({
      engine,
      concurrency: options.concurrency ?? 24,
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
    return await buildDemoReport(db, batch.id, sandbox.world, providers, (Date.now() - started) / 1000);
  } finally {
    await queue.stop();
    await sandbox.stop();
  }
}
