import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { applicationNameFor } from '../src/db/postgres-db.ts';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { createGateway } from '../src/gateway/create-gateway.ts';
import type { QueueDriver } from '../src/queue/queue-driver.ts';
import { TEST_DATABASE_URL } from './helpers/backends.ts';
import { chainPipeline } from './helpers/fake-pipelines.ts';
import { fakeEnv, fakeProvider, startFakeServer } from './helpers/fake-provider.ts';
import { privateClusterUnavailable, startPrivateCluster } from './helpers/pgbouncer.ts';
import { type Harness, openHarness } from './helpers/run-harness.ts';
import { basicHandlers, basicPipeline, slug } from './helpers/run-pipelines.ts';
import { scriptedGateway } from './helpers/test-gateway.ts';

const ACCOUNTS = Array.from({ length: 16 }, (_, i) => `Course ${String.fromCharCode(65 + i)}`);

/** A gateway answering basicPipeline after a short wait (so runs are mid-flight when the database goes). */
function slowGateway() {
  const handlers = basicHandlers();
  const wrap =
    <I>(fn: (i: I) => unknown) =>
    async (i: I) => {
      await sleep(40);
      return fn(i) as never;
    };
  return scriptedGateway(
    Object.fromEntries(Object.entries(handlers).map(([k, fn]) => [k, wrap(fn as (i: unknown) => unknown)])),
  );
}

/** Every value an undisturbed run writes, exactly once each. */
async function expectUndisturbedValues(db: Db) {
  const accounts = await db.query<{ name: string; industry: string; email: string }>(
    `SELECT name, industry, attributes->>'general_email' AS email FROM accounts ORDER BY name`,
  );
  expect(accounts.rows).toEqual(
    ACCOUNTS.map((n) => ({ name: n, industry: `golf:${n}`, email: `info@${slug(n)}.com` })),
  );
  const contacts = await db.query<{ email: string; title: string }>(
    'SELECT email, title FROM contacts ORDER BY email',
  );
  expect(contacts.rows).toEqual(
    ACCOUNTS.flatMap((n) => [
      { email: `ann@${slug(n)}.com`, title: 'GM' },
      { email: `bob@${slug(n)}.com`, title: 'Pro' },
    ]).sort((a, b) => a.email.localeCompare(b.email)),
  );
  const dup = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT entity_type, entity_id, field FROM field_values
       GROUP BY 1, 2, 3 HAVING count(*) > 1) d`,
  );
  expect(dup.rows[0]!.n).toBe(0);
}

async function runThrough(
  db: Db,
  queue: QueueDriver,
  engine: RunEngine,
  disturb: () => Promise<void>,
  notices: string[],
  pipeline = 'basic',
  disturbAfter = 3,
) {
  for (const n of ACCOUNTS) await db.query('INSERT INTO accounts (name) VALUES ($1)', [n]);
  const batch = await createBatch(db, queue, { pipeline, selection: {} });
  let enriched = 0;
  const worker = startWorker({
    engine,
    concurrency: 4,
    idlePollMs: 20,
    heartbeatSeconds: 10,
    until: () => settleBatch(db, batch.id),
    onOutcome: (o) => {
      if (o === 'enriched') enriched++;
    },
    onNotice: (line) => notices.push(line),
    onError: (err) => notices.push(`error: ${(err as Error).message}`),
  });
  while (enriched < disturbAfter) await sleep(20);
  await disturb();
  await worker.done;
  return batchProgress(db, batch.id);
}

describe.skipIf(!TEST_DATABASE_URL)('the database going away mid-run [postgres]', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness('postgres');
  });
  afterAll(async () => {
    await h?.close();
  });

  it("every Sluice connection terminated mid-run: the batch finishes with an undisturbed run's values", async () => {
    const admin = await openDb({ databaseUrl: TEST_DATABASE_URL!, migrate: false });
    const notices: string[] = [];
    try {
      const gw = slowGateway();
      const p = await runThrough(
        h.db,
        h.queue,
        h.engine(gw, [basicPipeline()], { dbDeferMs: 100 }),
        async () => {
          for (let i = 0; i < 2; i++) {
            const killed = await admin.query<{ ok: boolean }>(
              'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
              [applicationNameFor(h.db.schema)],
            );
            expect(killed.rows.length).toBeGreaterThan(0);
            await sleep(150);
          }
        },
        notices,
      );
      expect(p).toMatchObject({ status: 'done', enriched: ACCOUNTS.length, partial: 0, failed: 0 });
      await expectUndisturbedValues(h.db);
      // no call was answered twice for the same record: memoized steps were replayed, not redone
      expect(gw.count('alpha/industry')).toBeLessThanOrEqual(ACCOUNTS.length + 4);
    } finally {
      await admin.close();
    }
  }, 120_000);
});

const noCluster = TEST_DATABASE_URL ? privateClusterUnavailable() : 'TEST_DATABASE_URL is not set';
describe.skipIf(noCluster !== undefined)(
  `a real PostgreSQL restart mid-run ${noCluster ? `(skipped: ${noCluster})` : ''}`,
  () => {
    it("the worker survives, reconnects, and the batch finishes with an undisturbed run's values", async () => {
      const cluster = await startPrivateCluster();
      let db: Db | undefined;
      let queue: QueueDriver | undefined;
      const notices: string[] = [];
      try {
        db = await openDb({ databaseUrl: cluster.url });
        queue = await openRunQueue(db, {
          heartbeatSeconds: 10,
          superviseIntervalSeconds: 1,
          retryDelaySeconds: 0,
        });
        const engine: RunEngine = {
          db,
          queue,
          gateway: slowGateway(),
          dbDeferMs: 100,
          resolvePipeline: async () => basicPipeline(),
        };
        const p = await runThrough(db, queue, engine, () => cluster.restart(2_000), notices);
        expect(p).toMatchObject({ status: 'done', enriched: ACCOUNTS.length, partial: 0, failed: 0 });
        await expectUndisturbedValues(db);
        expect(notices.some((l) => /database unreachable/.test(l))).toBe(true);
        expect(notices.some((l) => /database reachable again/.test(l))).toBe(true);
      } finally {
        await queue?.stop().catch(() => {});
        await db?.close().catch(() => {});
        await cluster.stop();
      }
    }, 180_000);

    it('through the real gateway: every paid answer in flight is kept, nothing is paid twice', async () => {
      const cluster = await startPrivateCluster();
      const server = await startFakeServer({ latencyMs: 250 });
      let db: Db | undefined;
      let queue: QueueDriver | undefined;
      const notices: string[] = [];
      try {
        db = await openDb({ databaseUrl: cluster.url });
        queue = await openRunQueue(db, {
          heartbeatSeconds: 10,
          superviseIntervalSeconds: 1,
          retryDelaySeconds: 0,
        });
        const provider = fakeProvider({ priceUsd: 0.01 });
        const gateway = createGateway({
          db,
          providers: (id) => (id === provider.id ? provider : undefined),
          env: fakeEnv(server),
        });
        const pipeline = chainPipeline('fake', 2, 'basic');
        const engine: RunEngine = {
          db,
          queue,
          gateway,
          dbDeferMs: 100,
          resolvePipeline: async () => pipeline,
        };
        // The server goes down for 2 s just after a call went out (each takes 250 ms), so that call's
        // answer comes back while the database is gone. (Whether the worker loop itself notices the
        // outage depends on timing: the in-flight runs wait on the database inside the executor.)
        let downAt = 0;
        const restartMidCall = async () => {
          const sent = server.requests.length;
          while (server.requests.length === sent) await sleep(2);
          downAt = performance.now();
          await cluster.restart(2_000);
        };
        const p = await runThrough(db, queue, engine, restartMidCall, notices, 'basic', 5);
        expect(p).toMatchObject({ status: 'done', enriched: ACCOUNTS.length, partial: 0, failed: 0 });
        expect(server.requests.some((r) => r.at <= downAt && r.at > downAt - 250)).toBe(true);
        // Every lookup was bought once: an answer that came back while the database was down was
        // recorded when it was back, not thrown away and bought again.
        const asked = server.requests.map((r) => r.q.toLowerCase());
        expect(asked).toHaveLength(ACCOUNTS.length * 2);
        expect(new Set(asked).size).toBe(asked.length);
        const values = await db.query<{ name: string; s1: string | null; s2: string | null }>(
          `SELECT name, attributes->>'s1' AS s1, attributes->>'s2' AS s2 FROM accounts ORDER BY name`,
        );
        expect(values.rows.filter((r) => r.s1 && r.s2)).toHaveLength(ACCOUNTS.length);
        const led = await db.query<{ status: string; n: number }>(
          `SELECT status, count(*)::int AS n FROM ledger WHERE attempt > 0 GROUP BY status ORDER BY status`,
        );
        expect(led.rows).toEqual([{ status: 'found', n: ACCOUNTS.length * 2 }]);
        const dup = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM (SELECT entity_type, entity_id, field FROM field_values
             GROUP BY 1, 2, 3 HAVING count(*) > 1) d`,
        );
        expect(dup.rows[0]!.n).toBe(0);
        const open = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM call_attempts`);
        expect(open.rows[0]!.n).toBe(0);
      } finally {
        await queue?.stop().catch(() => {});
        await db?.close().catch(() => {});
        await server.close();
        await cluster.stop();
      }
    }, 180_000);
  },
);
