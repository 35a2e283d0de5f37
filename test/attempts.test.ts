import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { createGateway } from '../src/engine/gateway.ts';
import { errorClassOf, isDatabaseUnavailable } from '../src/errors.ts';
import { attemptSummary, listLedger } from '../src/ledger/ledger-query.ts';
import { reapAttempts, startReaper } from '../src/ledger/reaper.ts';
import { getBudget, setBatchBudget } from '../src/limits/budget.ts';
import { spawnAttemptChild } from './helpers/attempt-process.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';
import { type FakeServer, fakeEnv, fakeProvider, startFakeServer } from './helpers/fake-provider.ts';

const lookup = (q: string, batchId?: number) => ({
  provider: 'fake',
  operation: 'lookup',
  input: { q },
  ...(batchId !== undefined ? { batchId } : {}),
});

async function openAttempts(db: Db) {
  return (
    await db.query<{
      owner: string;
      status: string;
      price_usd: number;
      reserved_usd: number;
      budget_scopes: string[];
    }>('SELECT owner, status, price_usd, reserved_usd, budget_scopes FROM call_attempts ORDER BY id')
  ).rows;
}

/** Nothing held any more: no open attempt, no marker, no slot. */
async function held(db: Db): Promise<number> {
  const r = await db.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM call_attempts WHERE status = 'open')::int
          + (SELECT count(*) FROM cache_inflight)::int
          + (SELECT count(*) FROM concurrency_slots WHERE owner IS NOT NULL)::int AS n`,
  );
  return r.rows[0]!.n;
}

/** An attempt row as a gateway writes it, for an owner that is not this process. */
async function insertAttempt(
  db: Db,
  o: { owner: string; price: number; scopes: string[]; leaseMs: number; expiredMs?: number },
) {
  await db.query(
    `INSERT INTO call_attempts (owner, provider, operation, cache_key, batch_id, price_usd, budget_scopes,
                                reserved_usd, lease_ms, lease_until)
     VALUES ($1, 'fake', 'lookup', 'k-' || $1, 1, $2, $3, $2, $4,
             now() + ($4 - $5::int) * interval '1 millisecond')`,
    [o.owner, o.price, o.scopes, o.leaseMs, o.expiredMs ?? 0],
  );
  for (const scope of o.scopes)
    await db.query('UPDATE budgets SET reserved_usd = reserved_usd + $2 WHERE scope = $1', [scope, o.price]);
}

describeEachBackend('durable attempts', (backend) => {
  let db: TestDb | undefined;
  let server: FakeServer | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await server?.close();
    server = undefined;
    await db?.close();
    db = undefined;
  });

  const gatewayOn = (on: Db, s: FakeServer, extra: Record<string, unknown> = {}) => {
    const provider = fakeProvider({ priceUsd: 0.05 });
    return createGateway({
      db: on,
      providers: (id) => (id === provider.id ? provider : undefined),
      env: fakeEnv(s),
      ...extra,
    });
  };

  it('writes the attempt row (price, reservation) before the request and removes it with the record', async () => {
    db = await openTestDb(backend);
    server = await startFakeServer();
    await setBatchBudget(db, 1, 1);
    const seen: Awaited<ReturnType<typeof openAttempts>>[] = [];
    const d = db;
    const gateway = gatewayOn(db, server, {
      fetch: async (url: string, init: RequestInit) => {
        seen.push(await openAttempts(d));
        return fetch(url, init);
      },
    });
    expect(await gateway.call(lookup('acme', 1))).toMatchObject({ found: true, costUsd: 0.05 });
    expect(seen).toEqual([
      [
        {
          owner: gateway.owner,
          status: 'open',
          price_usd: 0.05,
          reserved_usd: 0.05,
          budget_scopes: ['batch:1'],
        },
      ],
    ]);
    expect(await openAttempts(db)).toEqual([]);
    expect(await getBudget(db, 'batch:1')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
    // A cache hit pays nothing and writes no attempt.
    await gateway.call(lookup('acme', 1));
    expect(seen).toHaveLength(1);
  });

  it('the reaper decides "died" safely: dead pid on this host at once, other hosts only after a lease of uptime', async () => {
    db = await openTestDb(backend);
    await setBatchBudget(db, 1, 1);
    const scopes = ['batch:1'];
    // A pid that existed and is gone: a finished child process.
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const host = hostname();
    await insertAttempt(db, { owner: `${host}:${gone}:dead`, price: 0.1, scopes, leaseMs: 60_000 });
    // Alive (this test's parent process), lease valid: left alone.
    await insertAttempt(db, { owner: `${host}:${process.ppid}:alive`, price: 0.2, scopes, leaseMs: 60_000 });
    // Another host, lease lapsed 1 s ago.
    await insertAttempt(db, {
      owner: 'elsewhere:123:x',
      price: 0.3,
      scopes,
      leaseMs: 2_000,
      expiredMs: 1_000 + 2_000,
    });
    // Rules of server Postgres (several processes per database), on either backend.
    const rules = { backend: 'postgres' as const };
    // Just after an outage (uptime 0) only the certain death is reaped.
    expect(await reapAttempts(db, { ...rules, uptimeMs: 0 })).toMatchObject({
      attempts: 1,
      owners: [`${host}:${gone}:dead`],
    });
    // Uptime shorter than the lapsed owner's lease: still not.
    expect((await reapAttempts(db, { ...rules, uptimeMs: 1_999 })).attempts).toBe(0);
    expect(await reapAttempts(db, { ...rules, uptimeMs: 2_000 })).toMatchObject({
      attempts: 1,
      owners: ['elsewhere:123:x'],
    });
    expect((await reapAttempts(db, { ...rules, uptimeMs: 3_600_000 })).attempts).toBe(0);
    expect((await openAttempts(db)).map((a) => [a.owner.split(':')[2], a.status])).toEqual([
      ['dead', 'unknown'],
      ['alive', 'open'],
      ['x', 'unknown'],
    ]);
    // Prices of the unknown ones spent, their reservations released; the live one still reserved.
    const b = await getBudget(db, 'batch:1');
    expect(b?.spentUsd).toBeCloseTo(0.4);
    expect(b?.reservedUsd).toBeCloseTo(0.2);
    const unknown = await listLedger(db, { status: 'unknown' });
    expect(unknown.map((l) => [l.costUsd, l.batchId, l.attempt])).toEqual([
      [0.3, 1, 1],
      [0.1, 1, 1],
    ]);
    expect(unknown[0]?.error).toMatch(/elsewhere:123:x\) died before recording its outcome/);
    expect(await attemptSummary(db)).toEqual({ unknown: 2, unknownUsd: 0.4, open: 1 });
    if (backend === 'pglite') {
      // PGlite: one process per data dir, so any other process's attempt is over.
      expect((await reapAttempts(db, { uptimeMs: 0 })).attempts).toBe(1);
      expect((await getBudget(db, 'batch:1'))?.reservedUsd).toBe(0);
    }
  });

  it('an owner reaped while it was still alive records the real cost later, and the budget ends exact', async () => {
    db = await openTestDb(backend);
    server = await startFakeServer();
    await setBatchBudget(db, 1, 1);
    let release: () => void = () => {};
    const answered = new Promise<void>((r) => {
      release = r;
    });
    let requested: () => void = () => {};
    const inRequest = new Promise<void>((r) => {
      requested = r;
    });
    const gateway = gatewayOn(db, server, {
      fetch: async (url: string, init: RequestInit) => {
        requested();
        await answered;
        return fetch(url, init);
      },
    });
    const call = gateway.call(lookup('late', 1));
    await inRequest;
    // The reaper wrongly takes the owner for dead (as if cut off for longer than its lease).
    expect(
      (await reapAttempts(db, { backend: 'postgres', uptimeMs: 0, pidAlive: () => false, pid: -1 })).attempts,
    ).toBe(1);
    expect(await getBudget(db, 'batch:1')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
    release();
    expect(await call).toMatchObject({ found: true, costUsd: 0.05 });
    expect(await getBudget(db, 'batch:1')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
    const rows = await listLedger(db, { batchId: 1 });
    expect(rows.map((l) => [l.status, l.costUsd])).toEqual([
      ['found', 0.05],
      ['unknown', 0],
    ]);
    expect(await held(db)).toBe(0);
  });

  it('SIGKILL between the provider answer and the ledger write: the attempt becomes unknown, the budget stays exact', async () => {
    server = await startFakeServer();
    let dataDir: string | undefined;
    let env: Record<string, string>;
    if (backend === 'pglite') {
      dataDir = mkdtempSync(join(tmpdir(), 'sluice-attempts-'));
      const dir = dataDir;
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const setup = await openDb({ dataDir, vacuumIntervalMs: 0 });
      await setBatchBudget(setup, 7, 1);
      await setup.close();
      env = { SLUICE_DATA_DIR: dataDir };
    } else {
      db = await openTestDb(backend);
      await setBatchBudget(db, 7, 1);
      env = { DATABASE_URL: db.connection!.url, SLUICE_DB_SCHEMA: db.connection!.schema };
    }
    const child = spawnAttemptChild({
      ...env,
      FAKE_URL: server.url,
      QUERY: 'paid-1',
      BATCH_ID: '7',
      PRICE_USD: '0.05',
      HANG_AFTER_ANSWER: '1',
      // A long lease: only the dead pid can tell the reaper the call is over.
      INFLIGHT_TTL_MS: '600000',
    });
    cleanups.push(() => {
      child.proc.kill('SIGKILL');
    });
    await child.waitFor('ready');
    child.go();
    const { owner } = await child.waitFor('answered');
    expect(server.requests.map((r) => r.q)).toEqual(['paid-1']);
    if (db) {
      expect(await openAttempts(db)).toMatchObject([{ owner, status: 'open', reserved_usd: 0.05 }]);
      expect(await getBudget(db, 'batch:7')).toMatchObject({ spentUsd: 0, reservedUsd: 0.05 });
    }
    child.proc.kill('SIGKILL');
    await child.exited;
    if (dataDir) db = (await openDb({ dataDir, vacuumIntervalMs: 0 })) as TestDb;
    const d = db!;
    // The reaper a worker runs at start.
    const reaper = startReaper(d, { intervalMs: 60_000 });
    const reaped = await reaper.runOnce();
    await reaper.stop();
    expect(reaped).toMatchObject({ attempts: 1, owners: [owner] });
    expect(await getBudget(d, 'batch:7')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
    const ledger = await listLedger(d, { batchId: 7 });
    expect(ledger.map((l) => [l.status, l.costUsd, l.attempt, l.cache])).toEqual([
      ['unknown', 0.05, 1, 'miss'],
    ]);
    expect(await held(d)).toBe(0);
    // The answer was lost with the process: the next run pays again, and the budget stays exact.
    const again = gatewayOn(d, server);
    expect(await again.call(lookup('paid-1', 7))).toMatchObject({ found: true, cached: false });
    expect(await getBudget(d, 'batch:7')).toMatchObject({ spentUsd: 0.1, reservedUsd: 0 });
    expect(await held(d)).toBe(0);
  });

  it.each([
    ['before the commit', false],
    ['after the commit (the answer to it lost)', true],
  ])(
    'the database going away while a paid answer is recorded (%s): waited out, recorded once, never paid again',
    async (_, committed) => {
      db = await openTestDb(backend);
      server = await startFakeServer();
      await setBatchBudget(db, 3, 1);
      const real = db;
      // The statement that records the call's outcome fails twice as a terminated connection does
      // (SQLSTATE 57P01); with `committed`, the first failure comes after it ran (the commit happened,
      // its answer was lost), so the retry must not record the call a second time.
      let failures = 0;
      const flaky = new Proxy(real, {
        get(target, prop, receiver) {
          if (prop !== 'query') {
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          }
          return async (text: string, values?: unknown[]) => {
            if (failures < 2 && /INSERT INTO ledger/.test(text) && /DELETE FROM call_attempts/.test(text)) {
              failures++;
              if (committed && failures === 1) await target.query(text, values);
              throw Object.assign(new Error('terminating connection due to administrator command'), {
                code: '57P01',
              });
            }
            return target.query(text, values as never);
          };
        },
      }) as Db;
      const gw = gatewayOn(flaky, server, { databaseWaitMs: 10_000 });
      expect(await gw.call(lookup('paid-2', 3))).toMatchObject({ found: true, cached: false, costUsd: 0.05 });
      expect(failures).toBe(2);
      expect(server.requests.map((r) => r.q)).toEqual(['paid-2']);
      const ledger = await listLedger(real, { batchId: 3 });
      expect(ledger.map((l) => [l.status, l.costUsd, l.cache])).toEqual([['found', 0.05, 'miss']]);
      expect(await getBudget(real, 'batch:3')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
      expect(await held(real)).toBe(0);
      // The answer is kept: the same lookup again is a cache hit, not a second paid request.
      expect(await gatewayOn(real, server).call(lookup('paid-2', 3))).toMatchObject({
        cached: true,
        costUsd: 0,
      });
      expect(server.requests).toHaveLength(1);
    },
  );

  it('an outage longer than databaseWaitMs ends the call as infrastructure, and the reaper settles it', async () => {
    db = await openTestDb(backend);
    server = await startFakeServer();
    await setBatchBudget(db, 4, 1);
    const real = db;
    let down = true;
    const flaky = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop !== 'query') {
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        }
        return async (text: string, values?: unknown[]) => {
          // Only the record of the answer fails: the release that follows it would get through (the
          // database came back just then), and must not drop the paid call's row.
          if (down && /DELETE FROM call_attempts/.test(text) && /INSERT INTO ledger/.test(text))
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
          return target.query(text, values as never);
        };
      },
    }) as Db;
    const gw = gatewayOn(flaky, server, { databaseWaitMs: 600, inflightTtlMs: 300 });
    const err = await gw.call(lookup('paid-3', 4)).catch((e: unknown) => e);
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(errorClassOf(err)).toBe('infrastructure');
    down = false;
    // The call's attempt row is still open: the budget still holds its reservation, nothing is lost
    // silently. Its owner is alive but no longer renews it; once its lease lapses the reaper settles it
    // as unknown (price counted as spent).
    expect(await getBudget(real, 'batch:4')).toMatchObject({ spentUsd: 0, reservedUsd: 0.05 });
    await new Promise((r) => setTimeout(r, 400));
    const reaped = await reapAttempts(real, { uptimeMs: 60_000 });
    expect(reaped).toMatchObject({ attempts: 1 });
    expect(await getBudget(real, 'batch:4')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
    expect(await held(real)).toBe(0);
  });

  it('a call cancelled after its answer came back keeps the answer: recorded, billed, cached', async () => {
    db = await openTestDb(backend);
    server = await startFakeServer();
    await setBatchBudget(db, 5, 1);
    const controller = new AbortController();
    const base = fakeProvider({ priceUsd: 0.05 });
    const op = base.operations.lookup!;
    // The run is cancelled (a worker's shutdown) just as the provider's answer arrives.
    const provider = {
      ...base,
      operations: {
        lookup: {
          ...op,
          run: async (c: Parameters<typeof op.run>[0], i: Parameters<typeof op.run>[1]) => {
            const r = await op.run(c, i);
            controller.abort(new Error('run cancelled'));
            return r;
          },
        },
      },
    };
    const gw = createGateway({
      db,
      providers: (id) => (id === provider.id ? provider : undefined),
      env: fakeEnv(server),
    });
    expect(await gw.call(lookup('paid-4', 5), controller.signal)).toMatchObject({
      found: true,
      costUsd: 0.05,
    });
    const ledger = await listLedger(db, { batchId: 5 });
    expect(ledger.map((l) => [l.status, l.costUsd])).toEqual([['found', 0.05]]);
    expect(await getBudget(db, 'batch:5')).toMatchObject({ spentUsd: 0.05, reservedUsd: 0 });
    expect(await held(db)).toBe(0);
    expect(await gatewayOn(db, server).call(lookup('paid-4', 5))).toMatchObject({ cached: true });
    expect(server.requests).toHaveLength(1);
  });

  // PGlite is one process per data dir: nothing to coalesce across processes.
  it.skipIf(backend === 'pglite')(
    'two processes, a call much slower than the marker lease: one request, the marker is renewed',
    async () => {
      db = await openTestDb(backend);
      server = await startFakeServer({ latencyMs: 2_000 });
      const ttl = 300;
      const child = spawnAttemptChild({
        DATABASE_URL: db.connection!.url,
        SLUICE_DB_SCHEMA: db.connection!.schema,
        FAKE_URL: server.url,
        QUERY: 'slow-1',
        INFLIGHT_TTL_MS: String(ttl),
      });
      cleanups.push(() => {
        child.proc.kill('SIGKILL');
      });
      await child.waitFor('ready');
      child.go();
      const s = server;
      for (let i = 0; s.requests.length === 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
      expect(server.requests).toHaveLength(1);
      // Well past the lease: an unrenewed marker would have expired by now.
      await new Promise((r) => setTimeout(r, 3 * ttl));
      const here = gatewayOn(db, server, { inflightTtlMs: ttl });
      const mine = await here.call(lookup('slow-1'));
      const theirs = await child.waitFor('done');
      expect(server.requests.map((r) => r.q)).toEqual(['slow-1']);
      expect(theirs.outcome).toMatchObject({ found: true, cached: false, costUsd: 0.01 });
      expect(mine).toMatchObject({ found: true, cached: true, coalesced: true, costUsd: 0 });
      expect(theirs.renewals).toBeGreaterThanOrEqual(3);
      expect(await held(db)).toBe(0);
    },
  );
});
