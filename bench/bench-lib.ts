import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import { createGateway, type GatewayOptions } from '../src/engine/gateway.ts';
import type { PipelineDefinition } from '../src/engine/pipeline-types.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import type { ProviderDefinition } from '../src/providers/define-provider.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import type { FakeApiStats } from '../test/helpers/fake-limited-server.ts';
import { fakeProvider } from '../test/helpers/fake-providers.ts';

/** Helpers shared by the run-engine benchmarks in bench/index.ts. */
export const PG_URL = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;

export interface FakeServer {
  url: string;
  stats(): Promise<Record<string, FakeApiStats>>;
  close(): Promise<void>;
}

/** Starts bench/fake-server-child.ts and waits for its URL. */
export async function startFakeServerProcess(
  spec: Record<
    string,
    {
      ratePerSecond?: number;
      latencyMs?: number;
      notFoundEvery?: number;
      windows?: { limit: number; windowMs: number }[];
    }
  >,
): Promise<FakeServer> {
  const script = fileURLToPath(new URL('./fake-server-child.ts', import.meta.url));
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, FAKE_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { url: string }).url));
    proc.once('exit', (code) => reject(new Error(`fake server exited with ${code}`)));
  });
  return {
    url,
    stats: async () => (await (await fetch(`${url}/__stats`)).json()) as Record<string, FakeApiStats>,
    close: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

/** A fresh database for one scenario: in-memory PGlite, or its own schema on the server. */
export async function scenarioDb(backend: 'pglite' | 'postgres') {
  if (backend === 'pglite') {
    const db = await openDb({ memory: true });
    return { db, env: {} as Record<string, string>, cleanup: () => db.close() };
  }
  if (!PG_URL) throw new Error('DATABASE_URL or TEST_DATABASE_URL is needed for server Postgres');
  const schema = `bench_${Math.random().toString(36).slice(2, 10)}`;
  const db = await openDb({ databaseUrl: PG_URL, schema });
  return {
    db,
    env: { DATABASE_URL: PG_URL, SLUICE_DB_SCHEMA: schema } as Record<string, string>,
    cleanup: async () => {
      await db.exec(
        `DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${bossSchemaFor(schema)}" CASCADE`,
      );
      await db.close();
    },
  };
}

/** Inserts accounts `acct-<n>` for the given numbers (repeats allowed: duplicate keys). */
export async function seedAccounts(db: Db, numbers: number[]): Promise<void> {
  for (let i = 0; i < numbers.length; i += 5000) {
    await db.query(`INSERT INTO accounts (name) SELECT 'acct-' || n FROM unnest($1::int[]) n`, [
      numbers.slice(i, i + 5000),
    ]);
  }
}

export interface InProcessOptions {
  db: Db;
  fakeUrl: string;
  /** Provider id → requests per second (undefined = unlimited). */
  apis: Record<string, number | undefined>;
  pipeline: PipelineDefinition;
  concurrency: number;
  limitMarginMs?: number;
  /** Provider definitions to use instead of `fakeProvider(id, rate)` for `apis`. */
  providers?: Map<string, ProviderDefinition>;
  /** Gateway options to add (e.g. `onLimitedSend`). */
  gateway?: Partial<GatewayOptions>;
}

/** Enqueues a batch over every account and works it in this process; returns the wall time. */
export async function runInProcess(o: InProcessOptions) {
  const queue = await openRunQueue(o.db, { retryDelaySeconds: 1 });
  const providers =
    o.providers ??
    new Map(
      Object.entries(o.apis).map(([id, rate]) => [id, fakeProvider(id, rate ? { ratePerSecond: rate } : {})]),
    );
  const gateway = createGateway({
    db: o.db,
    providers: (id) => providers.get(id),
    baseUrl: () => o.fakeUrl,
    ...(o.limitMarginMs !== undefined ? { limitMarginMs: o.limitMarginMs } : {}),
    ...o.gateway,
  });
  // warm fetch up: the first connection is slow and would skew the first window
  await fetch(`${o.fakeUrl}/__stats`).then((r) => r.text());
  const t0 = performance.now();
  const batch = await createBatch(o.db, queue, { pipeline: o.pipeline.name, selection: {} });
  const counts = await startWorker({
    engine: {
      db: o.db,
      queue,
      gateway,
      resolvePipeline: async () => o.pipeline,
      throttleMs: 200,
      deferMs: 500,
    },
    concurrency: o.concurrency,
    idlePollMs: 20,
    until: () => settleBatch(o.db, batch.id),
  }).done;
  const wallMs = performance.now() - t0;
  const progress = await batchProgress(o.db, batch.id);
  await queue.stop();
  return { wallMs, progress, counts, startedAt: performance.timeOrigin + t0, gateway };
}
