/**
 * A same-run reference for every benchmark (issue 7 item 5): machines of one kind differ in speed by
 * 2× and more, so each figure is also printed as a ratio to what the same database does in the same
 * run: raw parameterised INSERT round trips per second on the same pool, and a pg-boss
 * send/fetch/complete loop, both at the scenario's parallelism.
 */
import type { Db } from '../src/db/db.ts';
import { createPgBossDriver } from '../src/queue/pg-boss-driver.ts';

export interface Reference {
  backend: string;
  parallel: number;
  /** `INSERT INTO … VALUES ($1)` statements per second, `parallel` at a time (each its own commit). */
  insertPerS: number;
  /** Jobs per second through pg-boss: send, fetch one, complete, `parallel` loops at a time. */
  bossJobsPerS: number;
}

async function loop(parallel: number, ms: number, step: () => Promise<unknown>): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < until) {
        await step();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

/** Measures both references on `db` for about `ms` each; leaves nothing behind. */
export async function measureReference(db: Db, parallel: number, ms = 1_500): Promise<Reference> {
  await db.exec('CREATE TABLE IF NOT EXISTS bench_reference (id bigserial PRIMARY KEY, v text NOT NULL)');
  let i = 0;
  const insertPerS = await loop(parallel, ms, () =>
    db.query('INSERT INTO bench_reference (v) VALUES ($1)', [`v${i++}`]),
  );
  await db.exec('DROP TABLE bench_reference');
  const queue = 'bench_reference';
  const driver = await createPgBossDriver({ db, queues: [{ name: queue }] });
  let bossJobsPerS = 0;
  try {
    bossJobsPerS = await loop(parallel, ms, async () => {
      await driver.send(queue, { n: i++ });
      const jobs = await driver.fetch(queue, 1);
      if (jobs.length > 0) await driver.complete(queue, jobs);
    });
  } finally {
    await driver.stop();
  }
  return { backend: db.backend, parallel, insertPerS, bossJobsPerS };
}

/** `123 calls/s = 0.41 × INSERT/s, 1.9 × pg-boss jobs/s` for a figure measured on `ref`'s database. */
export function againstReference(perSecond: number, ref: Reference | undefined): string {
  if (!ref) return '';
  return ` (${(perSecond / ref.insertPerS).toFixed(3)} × INSERT round trips/s, ${(perSecond / ref.bossJobsPerS).toFixed(2)} × pg-boss jobs/s)`;
}

export function describeReference(ref: Reference): string {
  return `${Math.round(ref.insertPerS)} INSERT round trips/s and ${Math.round(ref.bossJobsPerS)} pg-boss send/fetch/complete jobs/s, ${ref.parallel} at a time, ${ref.backend}`;
}
