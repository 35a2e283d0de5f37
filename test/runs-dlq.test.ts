import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import { createGateway } from '../src/engine/gateway.ts';
import type { PipelineDefinition } from '../src/engine/pipeline-types.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { startFakeLimitedServer } from './helpers/fake-limited-server.ts';
import { fakeProvider } from './helpers/fake-providers.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

/** Step `a` looks `<name>#a` up; step `b` (required) looks `<name>#b` up. */
const pipeline: PipelineDefinition = {
  name: 'two-step',
  steps: ['a', 'b'].map((id) => ({
    id,
    required: id === 'b',
    async run(ctx) {
      const out = await ctx.gateway.call({
        provider: 'fx',
        operation: 'lookup',
        input: { q: `${String(ctx.record.account.name)}#${id}` },
      });
      return {
        status: out.found ? 'found' : 'not_found',
        writes: [
          {
            entity: 'account',
            field: id,
            value: out.output,
            source: 'provider',
            provider: 'fx',
            operation: 'lookup',
            costUsd: out.costUsd,
            observedAt: new Date().toISOString(),
          },
        ],
      };
    },
  })),
};

describeEachBackend('dead-letter queue', (backend) => {
  let shared: SharedDb;
  let server: Awaited<ReturnType<typeof startFakeLimitedServer>>;
  let broken = true;
  beforeEach(async () => {
    broken = true;
    shared = sharedDb(backend);
    // `b` lookups of "Bad Links" are rejected with HTTP 400 while `broken`
    server = await startFakeLimitedServer({
      fx: { failWith: (q) => (broken && q === 'Bad Links#b' ? 400 : undefined) },
    });
  });
  afterEach(async () => {
    await server.close();
    await shared.cleanup();
  });

  async function work(db: Db, batchId: number) {
    const queue = await openRunQueue(db, {
      heartbeatSeconds: 10,
      superviseIntervalSeconds: 1,
      retryDelaySeconds: 0,
    });
    const provider = fakeProvider('fx', {});
    const engine: RunEngine = {
      db,
      queue,
      gateway: createGateway({
        db,
        providers: (id) => (id === 'fx' ? provider : undefined),
        baseUrl: () => server.url,
      }),
      resolvePipeline: async () => pipeline,
    };
    await startWorker({ engine, idlePollMs: 20, until: () => settleBatch(db, batchId) }).done;
    const p = await batchProgress(db, batchId);
    await queue.stop();
    return p;
  }

  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...shared.env },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  it('lists failed runs with the reason and the ledger attempts, and retries them without redoing done steps', async () => {
    let db = await shared.open();
    await db.query(`INSERT INTO accounts (name) VALUES ('Pine Valley'), ('Bad Links')`);
    const queue = await openRunQueue(db);
    const batch = await createBatch(db, queue, { pipeline: 'two-step', selection: {} });
    await queue.stop();
    expect(await work(db, batch.id)).toMatchObject({ enriched: 1, failed: 1 });
    await db.close(); // PGlite: the CLI process needs the data dir

    const list = cli('dlq', 'list', '--json') as {
      runs: { runId: number; accountName: string; errorClass: string; reason: string }[];
    };
    expect(list.runs).toHaveLength(1);
    const dead = list.runs[0]!;
    expect(dead).toMatchObject({ accountName: 'Bad Links', errorClass: 'critical' });
    expect(dead.reason).toMatch(/^step "b" failed: fx answered HTTP 400/);

    const shown = cli('dlq', 'show', String(dead.runId), '--json') as {
      ledger: { provider: string; status: string; httpStatus: number; errorClass: string }[];
    };
    expect(
      shown.ledger.some((l) => l.provider === 'fx' && l.status === 'error' && l.httpStatus === 400),
    ).toBe(true);

    broken = false; // the provider is fixed
    expect(cli('dlq', 'retry', '--all', '--json')).toEqual({ requeued: [dead.runId] });
    expect(cli('dlq', 'list', '--json')).toEqual({ runs: [] });

    db = await shared.open();
    try {
      expect(await work(db, batch.id)).toMatchObject({ status: 'done', enriched: 2, failed: 0 });
      // step a of the retried run was memoized: looked up once in all
      expect(server.stats.fx!.perQuery['Bad Links#a']).toBe(1);
      expect(server.stats.fx!.perQuery['Bad Links#b']).toBe(2);
      const fv = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM field_values`);
      expect(fv.rows[0]!.n).toBe(4);
    } finally {
      await db.close();
    }
  }, 60_000);
});
