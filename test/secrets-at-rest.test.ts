import { afterEach, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import { createGateway } from '../src/engine/gateway.ts';
import type { PipelineDefinition } from '../src/engine/pipeline-types.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { CriticalError } from '../src/errors.ts';
import { defineOperation, defineProvider } from '../src/providers/define-provider.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/**
 * Secrets at rest: whatever an error says, the text Sluice stores about it (ledger rows, the
 * provider's health row, the run's error and error history, a failed step's memo, the dead-letter
 * entry) holds no key. Here the provider's own code puts its key into its errors (as a careless
 * adapter or an SDK that echoes the request would): a plain Error in an optional step, a Sluice error
 * with a Bearer token in the required step that fails the run; every table is then searched for it.
 */
const KEY = `PLANTEDatrest${Math.random().toString(36).slice(2, 10)}Key`;

const echo = defineProvider({
  id: 'echo',
  name: 'Echoes its key in errors',
  baseUrl: 'http://127.0.0.1:1',
  auth: { envVar: 'ECHO_API_KEY', required: true },
  limits: [],
  concurrency: 0,
  operations: {
    lookup: defineOperation({
      description: 'fails, quoting its key',
      input: z.object({ q: z.string() }),
      output: z.object({ value: z.string() }),
      priceUsd: 0.01,
      async run(ctx, input) {
        const key = ctx.env?.ECHO_API_KEY ?? '';
        if (input.q.endsWith('#plain')) throw new Error(`upstream rejected api key ${key}`);
        throw new CriticalError(`401 for Authorization: Bearer ${key}`);
      },
    }),
  },
});

const step = (id: string, required: boolean): PipelineDefinition['steps'][number] => ({
  id,
  required,
  async run(ctx) {
    const out = await ctx.gateway.call({
      provider: 'echo',
      operation: 'lookup',
      input: { q: `${String(ctx.record.account.name)}#${id}` },
    });
    return { status: out.found ? 'found' : 'not_found', writes: [] };
  },
});
const pipeline: PipelineDefinition = {
  name: 'echo-key',
  steps: [step('plain', false), step('bearer', true)],
};

describeEachBackend('secrets at rest', (backend) => {
  let shared: SharedDb;
  beforeEach(() => {
    shared = sharedDb(backend);
  });
  afterEach(async () => {
    await shared.cleanup();
  });

  it('errors that quote a key are stored without it: ledger, provider health, runs, steps, dead letters', async () => {
    const db = await shared.open();
    try {
      await db.query(`INSERT INTO accounts (name) VALUES ('Pine Valley')`);
      const queue = await openRunQueue(db, {
        heartbeatSeconds: 10,
        superviseIntervalSeconds: 1,
        retryDelaySeconds: 0,
      });
      const batch = await createBatch(db, queue, { pipeline: pipeline.name, selection: {} });
      const engine: RunEngine = {
        db,
        queue,
        gateway: createGateway({
          db,
          providers: (id) => (id === 'echo' ? echo : undefined),
          env: { ECHO_API_KEY: KEY },
          failureThreshold: 100,
        }),
        resolvePipeline: async () => pipeline,
      };
      await startWorker({ engine, idlePollMs: 20, until: () => settleBatch(db, batch.id) }).done;
      await queue.stop();
      expect(await batchProgress(db, batch.id)).toMatchObject({ failed: 1 });

      // Not vacuous: the errors were stored, with their words, and the key in its place.
      const ledger = await db.query<{ error: string }>(
        `SELECT error FROM ledger WHERE provider = 'echo' AND status = 'error' ORDER BY id`,
      );
      expect(ledger.rows.length).toBeGreaterThanOrEqual(2);
      expect(ledger.rows.map((r) => r.error).join('\n')).toMatch(/upstream rejected api key \[redacted\]/);
      const run = await db.query<{ error: string }>(`SELECT error FROM runs`);
      expect(run.rows[0]!.error).toMatch(/Bearer \[redacted\]/);

      const tables = await db.query<{ s: string; t: string }>(
        `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
            AND (table_schema = current_schema() OR table_schema LIKE current_schema() || '%')`,
      );
      for (const { s, t } of tables.rows) {
        const hit = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${s}"."${t}" x WHERE x::text LIKE '%' || $1 || '%'`,
          [KEY],
        );
        expect(hit.rows[0]!.n, `the key in ${s}.${t}`).toBe(0);
      }
    } finally {
      await db.close();
    }
  }, 60_000);
});
