import { afterEach, beforeEach, expect, it } from 'vitest';
import { batchProgress, createBatch, resumeBatch, settleBatch } from '../src/engine/batch.ts';
import { createGateway } from '../src/engine/gateway.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { startFakeLimitedServer } from './helpers/fake-limited-server.ts';
import { waterfallPipeline } from './helpers/fake-pipelines.ts';
import { fakeProvider } from './helpers/fake-providers.ts';
import { type Harness, openHarness } from './helpers/run-harness.ts';

describeEachBackend('batch budget (real gateway)', (backend) => {
  let h: Harness;
  let server: Awaited<ReturnType<typeof startFakeLimitedServer>>;
  beforeEach(async () => {
    h = await openHarness(backend);
    server = await startFakeLimitedServer({ paid: {} });
  });
  afterEach(async () => {
    await server.close();
    await h.close();
  });

  it('stops the batch cleanly at its budget, pays nothing past it, and resumes with a higher one', async () => {
    const ids = await h.accounts(Array.from({ length: 8 }, (_, i) => `acct-${i + 1}`));
    const provider = fakeProvider('paid', { priceUsd: 0.01 });
    const engine: RunEngine = {
      ...h.engine(
        createGateway({
          db: h.db,
          providers: (id) => (id === 'paid' ? provider : undefined),
          baseUrl: () => server.url,
        }),
        [waterfallPipeline(['paid'])],
      ),
    };
    const work = async (batchId: number) => {
      await startWorker({ engine, concurrency: 1, idlePollMs: 20, until: () => settleBatch(h.db, batchId) })
        .done;
      return batchProgress(h.db, batchId);
    };
    const batch = await createBatch(h.db, h.queue, {
      pipeline: 'waterfall',
      selection: { ids },
      budgetUsd: 0.03,
    });
    const stopped = await work(batch.id);
    expect(stopped).toMatchObject({ status: 'stopped', enriched: 3, failed: 0, queued: 5, running: 0 });
    expect(stopped.stopReason).toMatch(/budget/i);
    expect(server.stats.paid!.requests).toBe(3);
    expect(stopped.costUsd).toBeCloseTo(0.03, 6);

    await resumeBatch(h.db, h.queue, batch.id, { budgetUsd: 1 });
    const done = await work(batch.id);
    expect(done).toMatchObject({ status: 'done', enriched: 8, failed: 0, queued: 0 });
    expect(server.stats.paid!.requests).toBe(8);
    expect(server.duplicates('paid')).toEqual([]);
  }, 60_000);
});
