import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../src/db/open-db.ts';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { ConfigError } from '../src/errors.ts';
import { TEST_DATABASE_URL } from './helpers/backends.ts';
import { PGBOUNCER, startPgBouncer } from './helpers/pgbouncer.ts';
import { basicHandlers, basicPipeline } from './helpers/run-pipelines.ts';
import { scriptedGateway } from './helpers/test-gateway.ts';

/**
 * Supabase's pooler, as near as this machine gets: Debian's PgBouncer in front of the test server, in
 * both modes. Each test gets a database of its own (PgBouncer rejects the `options` startup parameter
 * that schema isolation uses), dropped afterwards.
 */
const skip = !TEST_DATABASE_URL
  ? 'TEST_DATABASE_URL is not set'
  : !existsSync(PGBOUNCER)
    ? `${PGBOUNCER} missing`
    : undefined;

describe.skipIf(skip !== undefined)(`through PgBouncer ${skip ? `(skipped: ${skip})` : ''}`, () => {
  const dbname = `sluice_pgb_${randomBytes(4).toString('hex')}`;
  const upstream = new URL(TEST_DATABASE_URL ?? 'postgres://x@127.0.0.1:5432/x');
  beforeAll(async () => {
    const admin = await openDb({ databaseUrl: TEST_DATABASE_URL!, migrate: false });
    await admin.exec(`CREATE DATABASE ${dbname}`);
    await admin.close();
  });
  afterAll(async () => {
    const admin = await openDb({ databaseUrl: TEST_DATABASE_URL!, migrate: false });
    await admin.exec(`DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)`);
    await admin.close();
  });

  it('session mode (Supabase session pooler): migrations, the queue and a batch work', async () => {
    const bouncer = await startPgBouncer({
      mode: 'session',
      upstreamPort: Number(upstream.port || 5432),
      dbname,
    });
    try {
      const db = await openDb({ databaseUrl: bouncer.url });
      const queue = await openRunQueue(db, {
        heartbeatSeconds: 10,
        superviseIntervalSeconds: 1,
        retryDelaySeconds: 0,
      });
      try {
        await db.query(`INSERT INTO accounts (name) VALUES ('Pine Valley'), ('Oak Hill')`);
        const batch = await createBatch(db, queue, { pipeline: 'basic', selection: {} });
        const engine = {
          db,
          queue,
          gateway: scriptedGateway(basicHandlers()),
          resolvePipeline: async () => basicPipeline(),
        };
        await startWorker({ engine, idlePollMs: 20, until: () => settleBatch(db, batch.id) }).done;
        expect(await batchProgress(db, batch.id)).toMatchObject({ status: 'done', enriched: 2 });
        const n = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM contacts WHERE title IS NOT NULL`,
        );
        expect(n.rows[0]!.n).toBe(4);
      } finally {
        await queue.stop();
        await db.close();
      }
    } finally {
      await bouncer.stop();
    }
  }, 60_000);

  it('transaction mode (Supabase port 6543) is refused at start, naming the setting to change', async () => {
    const bouncer = await startPgBouncer({
      mode: 'transaction',
      upstreamPort: Number(upstream.port || 5432),
      dbname,
    });
    try {
      const err = await openDb({ databaseUrl: bouncer.url }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(
        /transaction pooler.*session pooler.*port 5432.*pool_mode = session/,
      );
    } finally {
      await bouncer.stop();
    }
  }, 60_000);
});
