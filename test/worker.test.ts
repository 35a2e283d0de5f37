import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchProgress, createBatch } from '../src/engine/batch.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { describeEachBackend, TEST_DATABASE_URL } from './helpers/backends.ts';
import { spawnWorker } from './helpers/child-worker.ts';
import { startFakeLimitedServer } from './helpers/fake-limited-server.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/** Creates `n` accounts and a batch of `pipeline` over them; closes the database (PGlite: one process). */
async function seedBatch(shared: SharedDb, n: number, pipeline: string) {
  const db = await shared.open();
  await db.query(`INSERT INTO accounts (name) SELECT 'acct-' || g FROM generate_series(1, $1::int) g`, [n]);
  const queue = await openRunQueue(db, {
    heartbeatSeconds: 10,
    superviseIntervalSeconds: 1,
    retryDelaySeconds: 0,
  });
  const batch = await createBatch(db, queue, { pipeline, selection: {} });
  await queue.stop();
  await db.close();
  return batch.id;
}

describeEachBackend('worker processes', (backend) => {
  let shared: SharedDb;
  let server: Awaited<ReturnType<typeof startFakeLimitedServer>>;
  beforeEach(async () => {
    shared = sharedDb(backend);
    server = await startFakeLimitedServer({ slow: { latencyMs: 150, ratePerSecond: 40 } });
  });
  afterEach(async () => {
    await server.close();
    await shared.cleanup();
  });
  const workerEnv = (extra: Record<string, string> = {}) => ({
    ...shared.env,
    FAKE_URL: server.url,
    FAKE_APIS: JSON.stringify({ slow: 40 }),
    PIPELINES: JSON.stringify([{ kind: 'chain', provider: 'slow', steps: 3 }]),
    CONCURRENCY: '4',
    HEARTBEAT_SECONDS: '10',
    INFLIGHT_TTL_MS: '3000',
    ...extra,
  });

  it('a worker killed with SIGKILL mid-batch loses nothing: a restarted one finishes every run once', async () => {
    const batchId = await seedBatch(shared, 16, 'chain');
    const first = spawnWorker(workerEnv());
    await first.waitFor((_e, all) => all.filter((x) => x.outcome === 'enriched').length >= 4, 60_000);
    first.proc.kill('SIGKILL');
    await first.exited;
    const paidBeforeRestart = server.stats.slow!.requests;

    const second = spawnWorker(workerEnv({ UNTIL_BATCH: String(batchId) }));
    await second.waitFor((e) => e.event === 'done', 90_000);
    const db = await shared.open();
    try {
      const p = await batchProgress(db, batchId);
      expect(p).toMatchObject({ status: 'done', total: 16, enriched: 16, failed: 0, queued: 0, running: 0 });
      // every value written exactly once, despite the crash
      const fv = await db.query<{ field: string; n: number; runs: number }>(
        `SELECT field, count(*)::int AS n, count(DISTINCT entity_id)::int AS runs FROM field_values GROUP BY field ORDER BY field`,
      );
      expect(fv.rows).toEqual([
        { field: 's1', n: 16, runs: 16 },
        { field: 's2', n: 16, runs: 16 },
        { field: 's3', n: 16, runs: 16 },
      ]);
      // paid twice at most: the calls that were in flight when the process died (one per run in flight)
      const dups = server.duplicates('slow');
      expect(dups.length).toBeLessThanOrEqual(4);
      for (const q of dups) expect(server.stats.slow!.perQuery[q]).toBe(2);
      expect(server.stats.slow!.requests).toBe(48 + dups.length);
      expect(paidBeforeRestart).toBeGreaterThanOrEqual(12);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('SIGINT stops claiming, finishes in-flight runs and exits; the rest stay queued for the next worker', async () => {
    const batchId = await seedBatch(shared, 12, 'chain');
    const worker = spawnWorker(workerEnv({ CONCURRENCY: '2' }));
    await worker.waitFor((e) => e.outcome === 'enriched', 60_000);
    worker.proc.kill('SIGINT');
    const exit = await worker.exited;
    expect(exit.code).toBe(0);
    expect(worker.events.some((e) => e.event === 'done')).toBe(true);
    const db = await shared.open();
    let finishedFirst = 0;
    try {
      const p = await batchProgress(db, batchId);
      expect(p.running).toBe(0); // nothing left claimed by the stopped worker
      expect(p.queued).toBeGreaterThan(0);
      finishedFirst = p.enriched;
    } finally {
      await db.close();
    }
    const next = spawnWorker(workerEnv({ UNTIL_BATCH: String(batchId) }));
    await next.waitFor((e) => e.event === 'done', 60_000);
    const db2 = await shared.open();
    try {
      const p = await batchProgress(db2, batchId);
      expect(p).toMatchObject({ status: 'done', enriched: 12 });
      expect(next.events.filter((e) => e.outcome === 'enriched').length).toBe(12 - finishedFirst);
      expect(server.duplicates('slow')).toEqual([]);
    } finally {
      await db2.close();
    }
  }, 120_000);
});

describe.skipIf(!TEST_DATABASE_URL)('three worker processes on server Postgres', () => {
  it('share the work and never exceed a global rate limit together', async () => {
    const shared = sharedDb('postgres');
    const server = await startFakeLimitedServer({ lim: { latencyMs: 50, ratePerSecond: 10 } });
    try {
      // workers first (warmed up, idle), then the batch: its id is 1 in the fresh schema
      const batchId = 1;
      const env = {
        ...shared.env,
        FAKE_URL: server.url,
        FAKE_APIS: JSON.stringify({ lim: 10 }),
        PIPELINES: JSON.stringify([{ kind: 'waterfall', providers: ['lim'] }]),
        CONCURRENCY: '6',
        // The fake server stamps arrivals when its event loop gets to them. With 3 workers, Postgres and
        // other test files on 2 cores, send and arrival lag by up to ~100 ms, so spacing gets a wider
        // margin than the default 20 ms. A per-process limiter would still show up here as 3x the rate.
        LIMIT_MARGIN_MS: '150',
        UNTIL_BATCH: String(batchId),
      };
      await (await shared.open()).close(); // schema and migrations in place before the workers race
      const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
      await Promise.all(workers.map((w) => w.waitFor((e) => e.event === 'ready', 30_000)));
      expect(await seedBatch(shared, 50, 'waterfall')).toBe(batchId);
      await Promise.all(workers.map((w) => w.waitFor((e) => e.event === 'done', 60_000)));
      const s = server.stats.lim!;
      expect(s.throttled).toBe(0);
      expect(s.maxPerSecond).toBeLessThanOrEqual(10);
      expect(s.requests).toBe(50);
      const perWorker = workers.map((w) => w.events.filter((e) => e.outcome === 'enriched').length);
      expect(perWorker.reduce((a, b) => a + b, 0)).toBe(50);
      expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2); // the work was shared
    } finally {
      await server.close();
      await shared.cleanup();
    }
  }, 90_000);
});
