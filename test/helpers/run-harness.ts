import type { DbBackend } from '../../src/db/db.ts';
import { batchProgress, createBatch, settleBatch } from '../../src/engine/batch.ts';
import type { Gateway } from '../../src/engine/gateway-types.ts';
import type { PipelineDefinition } from '../../src/engine/pipeline-types.ts';
import type { RunEngine } from '../../src/engine/run-executor.ts';
import { openRunQueue } from '../../src/engine/run-queue.ts';
import { startWorker } from '../../src/engine/worker-loop.ts';
import { bossSchemaFor } from '../../src/queue/pg-boss-driver.ts';
import type { QueueDriver } from '../../src/queue/queue-driver.ts';
import { openTestDb, type TestDb } from './backends.ts';

export interface Harness {
  db: TestDb;
  queue: QueueDriver;
  engine(gateway: Gateway, pipelines: PipelineDefinition[], extra?: Partial<RunEngine>): RunEngine;
  /** Creates accounts named `names` and returns their ids. */
  accounts(names: string[]): Promise<number[]>;
  /** Enqueues a batch and works until it is settled; returns its progress. */
  runBatch(
    engine: RunEngine,
    pipeline: string,
    options?: { budgetUsd?: number; ids?: number[]; concurrency?: number },
  ): Promise<Awaited<ReturnType<typeof batchProgress>>>;
  close(): Promise<void>;
}

/** An isolated database (and pg-boss schema) with the runs queue, for run-engine tests. */
export async function openHarness(backend: DbBackend): Promise<Harness> {
  const db = await openTestDb(backend);
  const queue = await openRunQueue(db, {
    heartbeatSeconds: 10,
    superviseIntervalSeconds: 1,
    retryDelaySeconds: 0,
  });
  return {
    db,
    queue,
    engine(gateway, pipelines, extra = {}) {
      return {
        db,
        queue,
        gateway,
        throttleMs: 50,
        deferMs: 50,
        async resolvePipeline(ref) {
          const p = pipelines.find((x) => x.name === ref);
          if (!p) throw new Error(`unknown pipeline ${ref}`);
          return p;
        },
        ...extra,
      };
    },
    async accounts(names) {
      const ids: number[] = [];
      for (const name of names) {
        const r = await db.query<{ id: number }>('INSERT INTO accounts (name) VALUES ($1) RETURNING id', [
          name,
        ]);
        ids.push(r.rows[0]!.id);
      }
      return ids;
    },
    async runBatch(engine, pipeline, options = {}) {
      const batch = await createBatch(db, queue, {
        pipeline,
        selection: options.ids ? { ids: options.ids } : {},
        ...(options.budgetUsd !== undefined ? { budgetUsd: options.budgetUsd } : {}),
      });
      const worker = startWorker({
        engine,
        concurrency: options.concurrency ?? 4,
        idlePollMs: 20,
        heartbeatSeconds: 10,
        until: () => settleBatch(db, batch.id),
      });
      await worker.done;
      return batchProgress(db, batch.id);
    },
    async close() {
      await queue.stop();
      if (backend === 'postgres')
        await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.schema)}" CASCADE`);
      await db.close();
    },
  };
}
