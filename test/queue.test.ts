import { afterEach, beforeEach, expect, it } from 'vitest';
import { bossSchemaFor, createPgBossDriver } from '../src/queue/pg-boss-driver.ts';
import type { QueueDriver } from '../src/queue/queue-driver.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';

describeEachBackend('queue driver (pg-boss)', (backend) => {
  let db: TestDb;
  let queue: QueueDriver;
  beforeEach(async () => {
    db = await openTestDb(backend);
    queue = await createPgBossDriver({
      db,
      superviseIntervalSeconds: 1,
      queues: [
        { name: 'work', deadLetter: 'work.dlq', heartbeatSeconds: 10, retryLimit: 2, retryDelaySeconds: 0 },
      ],
    });
  });
  afterEach(async () => {
    await queue.stop();
    if (backend === 'postgres') await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.schema)}" CASCADE`);
    await db.close();
  });

  it('shares one database with Sluice: jobs and Sluice tables live side by side', async () => {
    await queue.send('work', { n: 1 });
    // a Sluice transaction on the same PGlite instance / pool works while pg-boss holds jobs
    const r = await db.transaction(
      async (tx) => (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts')).rows,
    );
    expect(r).toEqual([{ n: 0 }]);
    expect(await queue.pending('work')).toBe(1);
  });

  it('hands each job to one fetcher, and completed jobs are gone', async () => {
    await queue.sendMany(
      'work',
      Array.from({ length: 30 }, (_, i) => ({ n: i })),
    );
    const [a, b] = await Promise.all([
      queue.fetch<{ n: number }>('work', 20),
      queue.fetch<{ n: number }>('work', 20),
    ]);
    const ids = [...a!, ...b!].map((j) => j.data.n).sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await queue.complete('work', [...a!, ...b!]);
    expect(await queue.pending('work')).toBe(0);
    expect(await queue.fetch('work', 10)).toEqual([]);
  });

  it('retries failed jobs up to the retry limit, then moves them to the dead-letter queue', async () => {
    await queue.send('work', { n: 1 });
    for (let attempt = 0; attempt < 3; attempt++) {
      const [job] = await queue.fetch('work', 1);
      expect(job?.retryCount).toBe(attempt);
      await queue.fail('work', job!, `boom ${attempt}`);
    }
    expect(await queue.fetch('work', 1)).toEqual([]);
    const [dead] = await queue.fetch<{ n: number }>('work.dlq', 1);
    expect(dead?.data).toEqual({ n: 1 });
  });

  it('dead-letters a job at once with the data given, and reschedules after a delay', async () => {
    await queue.send('work', { n: 1 });
    const [job] = await queue.fetch<{ n: number }>('work', 1);
    await queue.deadLetter('work', job!, { n: 1, reason: 'bad input' });
    const [dead] = await queue.fetch<{ reason: string }>('work.dlq', 1);
    expect(dead?.data.reason).toBe('bad input');

    await queue.send('work', { n: 2 });
    const [again] = await queue.fetch<{ n: number }>('work', 1);
    await queue.reschedule('work', again!, 400);
    expect(await queue.fetch('work', 1)).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    const [later] = await queue.fetch<{ n: number }>('work', 1);
    expect(later?.data).toEqual({ n: 2 });
  });

  it('hands out again a job whose worker stopped sending heartbeats', async () => {
    await queue.send('work', { n: 1 });
    const [job] = await queue.fetch('work', 1);
    expect(job).toBeDefined();
    // a living worker's heartbeat keeps it; a dead one's lapses after heartbeatSeconds (10) + supervision
    await queue.heartbeat('work', [job!]);
    expect(await queue.fetch('work', 1)).toEqual([]);
    let redelivered: Awaited<ReturnType<typeof queue.fetch>> = [];
    const deadline = Date.now() + 20_000;
    while (redelivered.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      redelivered = await queue.fetch('work', 1);
    }
    expect(redelivered[0]?.id).toBe(job!.id);
    expect(redelivered[0]?.retryCount).toBe(1);
    // the stale claim can no longer complete it (fenced by attempt)
    await queue.complete('work', [job!]);
    await queue.complete('work', redelivered);
    expect(await queue.pending('work')).toBe(0);
  }, 30_000);
});
