/**
 * A real worker process for crash and scale-out tests (and bench/): Sluice's worker loop with the real
 * gateway, against the fake limited APIs. Configured by environment:
 *   DATABASE_URL + SLUICE_DB_SCHEMA, or SLUICE_DATA_DIR   the database (as the CLI reads it)
 *   FAKE_URL        base URL of the fake server;  FAKE_APIS  JSON {id: ratePerSecond|null}
 *   PIPELINES       JSON [{kind: 'waterfall', providers: [...]} | {kind: 'chain', provider, steps}]
 *   CONCURRENCY, HEARTBEAT_SECONDS, INFLIGHT_TTL_MS, MAX_WAIT_MS, LIMIT_MARGIN_MS, UNTIL_BATCH (exit when that batch is settled)
 * Prints one JSON line per event on stdout: ready, outcome, done.
 */

import { onShutdownSignal } from '../../src/cli/run-options.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openDb } from '../../src/db/open-db.ts';
import { settleBatch } from '../../src/engine/batch.ts';
import { createGateway } from '../../src/engine/gateway.ts';
import type { PipelineDefinition } from '../../src/engine/pipeline-types.ts';
import { openRunQueue } from '../../src/engine/run-queue.ts';
import { startWorker } from '../../src/engine/worker-loop.ts';
import { chainPipeline, waterfallPipeline } from './fake-pipelines.ts';
import { fakeProvider } from './fake-providers.ts';

const env = process.env;
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const config = loadConfig(env);
const db = await openDb({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  ...(config.dbSchema ? { schema: config.dbSchema } : {}),
  vacuumIntervalMs: 0,
});
const heartbeatSeconds = Number(env.HEARTBEAT_SECONDS ?? 10);
const queue = await openRunQueue(db, { heartbeatSeconds, superviseIntervalSeconds: 1, retryDelaySeconds: 0 });
const apis = JSON.parse(env.FAKE_APIS ?? '{}') as Record<string, number | null>;
const providers = new Map(
  Object.entries(apis).map(([id, rate]) => [id, fakeProvider(id, rate ? { ratePerSecond: rate } : {})]),
);
const gateway = createGateway({
  db,
  providers: (id) => providers.get(id),
  baseUrl: () => env.FAKE_URL,
  maxWaitMs: Number(env.MAX_WAIT_MS ?? 5000),
  // a killed process's in-flight markers must not hold identical calls for the default 2 minutes
  inflightTtlMs: Number(env.INFLIGHT_TTL_MS ?? 5000),
  // spacing margin per limit window: absorbs send-time jitter between processes on a loaded machine
  limitMarginMs: Number(env.LIMIT_MARGIN_MS ?? 20),
});
const specs = JSON.parse(env.PIPELINES ?? '[]') as (
  | { kind: 'waterfall'; providers: string[]; name?: string }
  | { kind: 'chain'; provider: string; steps: number; name?: string }
)[];
const pipelines: PipelineDefinition[] = specs.map((s) =>
  s.kind === 'waterfall'
    ? waterfallPipeline(s.providers, s.name)
    : chainPipeline(s.provider, s.steps, s.name),
);
const untilBatch = env.UNTIL_BATCH ? Number(env.UNTIL_BATCH) : undefined;
const worker = startWorker({
  engine: {
    db,
    queue,
    gateway,
    throttleMs: 200,
    deferMs: 500,
    async resolvePipeline(ref) {
      const p = pipelines.find((x) => x.name === ref);
      if (!p) throw new Error(`unknown pipeline ${ref}`);
      return p;
    },
  },
  concurrency: Number(env.CONCURRENCY ?? 10),
  heartbeatSeconds,
  idlePollMs: 50,
  // a batch that does not exist yet (workers started before it is created) is not settled
  ...(untilBatch !== undefined
    ? {
        until: async () =>
          (await db.query('SELECT 1 FROM batches WHERE id = $1', [untilBatch])).rows.length > 0 &&
          settleBatch(db, untilBatch),
      }
    : {}),
  onOutcome: (outcome, runId) => emit({ event: 'outcome', outcome, runId }),
  onError: (err) => emit({ event: 'error', message: (err as Error).message }),
});
onShutdownSignal(() => {
  emit({ event: 'stopping' });
  worker.stop();
});
// Warm up fetch (undici loads lazily, the first connection is slow): a cold first request can leave
// late and arrive bunched with the next one, which a strict provider counts against its window.
if (env.FAKE_URL)
  await fetch(`${env.FAKE_URL}/warmup`)
    .then((r) => r.text())
    .catch(() => {});
emit({ event: 'ready', pid: process.pid });
const counts = await worker.done;
await queue.stop();
await db.close();
emit({ event: 'done', counts });
process.exit(0);
