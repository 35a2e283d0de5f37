import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { startDeliveryWorker } from '../src/webhooks/delivery-worker.ts';
import { type LeaseOwner, startLeaseOwner } from '../src/webhooks/lease-owner.ts';
import { enqueueDelivery, ensureEndpoint, showDelivery } from '../src/webhooks/webhook-store.ts';
import { openTestDb, TEST_DATABASE_URL, type TestDb } from './helpers/backends.ts';
import { startReceiver } from './helpers/callback-receiver.ts';

/**
 * Lease owners (server Postgres): two processes' worth of connections on one schema. A claim of a live
 * owner is never taken; a claim of an owner whose session (and so its advisory lock) ended is taken
 * back at once, long before its lease would lapse.
 */
describe.skipIf(!TEST_DATABASE_URL)('lease owners [postgres]', () => {
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.close();
  });
  const second = async (db: TestDb): Promise<Db> => {
    const other = await openDb({
      databaseUrl: TEST_DATABASE_URL!,
      schema: db.connection!.schema,
      migrate: false,
    });
    opened.push(other);
    return other;
  };
  const owner = async (db: Db, sweepMs = 60_000) => {
    const o = (await startLeaseOwner(db, { sweepMs }))!;
    opened.push({ close: () => o.stop() });
    return o;
  };
  /** What kill -9 does to a process's sessions: the one holding the owner's lock ends (waited for: the
   * backend drops its advisory lock when it exits, which a loaded machine may delay past the next sweep). */
  const endLockSession = async (admin: Db, o: LeaseOwner) => {
    const r = await admin.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(l.pid, 10000) AS ok FROM pg_locks l JOIN lease_owners w
          ON l.classid = w.lock_space::oid AND l.objid = w.lock_key::oid AND l.objsubid = 2
        WHERE l.locktype = 'advisory' AND w.id = $1`,
      [o.current()],
    );
    expect(r.rows).toEqual([{ ok: true }]);
  };

  it("a live owner's claims stay its own; a dead owner's come back at once and are sent", async () => {
    const dbA = await openTestDb('postgres');
    opened.push(dbA);
    const dbB = await second(dbA);
    const a = await owner(dbA);
    const aId = a.current();
    const receiver = await startReceiver([200]);
    opened.push(receiver);
    const e = await ensureEndpoint(dbA, receiver.url);
    receiver.setSecret(e.secret!);
    const d = await dbA.transaction((tx) =>
      enqueueDelivery(tx, { endpointId: e.endpoint.id, eventType: 'job.completed', payload: { n: 1 } }),
    );
    // A claimed both (as its loops do) and is busy with them: leases of 30 s and 120 s
    await dbA.query(
      `UPDATE webhook_deliveries SET locked_until = now() + interval '30 seconds', locked_by = $1, attempts = 1 WHERE id = $2`,
      [a.current(), d.id],
    );
    await dbA.query(
      `INSERT INTO hook_events (source, event_id, body, locked_until, locked_by, attempts)
       VALUES ('rb2b', 'e-1', '{}', now() + interval '120 seconds', $1, 1)`,
      [a.current()],
    );

    const b = await owner(dbB);
    expect(b.current()).not.toBe(a.current());
    expect(b.reclaimedAtStart).toBe(0);
    expect(await b.sweep()).toBe(0);
    const held = await dbB.query<{ by: string }>(
      'SELECT locked_by AS by FROM webhook_deliveries WHERE locked_until > now() UNION ALL SELECT locked_by FROM hook_events WHERE locked_until > now()',
    );
    expect(held.rows).toEqual([{ by: a.current() }, { by: a.current() }]);

    await endLockSession(dbB, a);
    const leaseEnds = Date.now() + 25_000;
    expect(await b.sweep()).toBe(2);
    const free = await dbB.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM webhook_deliveries WHERE locked_until IS NULL)::int + (SELECT count(*) FROM hook_events WHERE locked_until IS NULL)::int AS n',
    );
    expect(free.rows[0]!.n).toBe(2);
    // and B's sender delivers it now, not when the 30 s lease lapses
    const sender = startDeliveryWorker({
      db: dbB,
      policy: { allowLoopback: true },
      intervalMs: 100,
      owner: b.current,
    });
    opened.push({ close: () => sender.stop() });
    await receiver.waitFor(1, 20_000);
    expect(Date.now()).toBeLessThan(leaseEnds);
    for (let i = 0; i < 100 && (await showDelivery(dbB, d.id))?.state !== 'succeeded'; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await showDelivery(dbB, d.id)).toMatchObject({ state: 'succeeded', attempts: 2 });
    // the dead owner is forgotten; the live one is still registered
    const owners = (await dbB.query<{ id: string }>('SELECT id FROM lease_owners')).rows.map((r) => r.id);
    expect(owners).not.toContain(aId);
    expect(owners).toContain(b.current());
  }, 60_000);

  it('an owner that stops removes itself and releases its lock', async () => {
    const db = await openTestDb('postgres');
    opened.push(db);
    const a = (await startLeaseOwner(db, { sweepMs: 60_000 }))!;
    expect(a.current()).toMatch(/:\d+:[0-9a-f]{8}$/);
    const { space, key } = (
      await db.query<{ space: number; key: number }>(
        'SELECT lock_space AS space, lock_key AS key FROM lease_owners WHERE id = $1',
        [a.current()],
      )
    ).rows[0]!;
    const locks = () =>
      db.query(
        `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
            AND classid = $1::int::oid AND objid = $2::int::oid`,
        [space, key],
      );
    expect((await locks()).rows).toHaveLength(1);
    await a.stop();
    expect(a.current()).toBeNull();
    expect((await db.query('SELECT 1 FROM lease_owners')).rows).toEqual([]);
    expect((await locks()).rows).toEqual([]);
  }, 30_000);
});
