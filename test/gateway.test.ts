import { afterEach, expect, it } from 'vitest';
import { BudgetExceededError, CriticalError, QuotaExhaustedError, ThrottledError } from '../src/errors.ts';
import { listLedger } from '../src/ledger/ledger-query.ts';
import { getBudget, setBatchBudget } from '../src/limits/budget.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { fakeEnv, fakeProvider } from './helpers/fake-provider.ts';
import { type GatewayFixture, gatewayFixture, sharedGatewayDb } from './helpers/gateway-setup.ts';

const call = (q: string, extra: Record<string, unknown> = {}) => ({
  provider: 'fake',
  operation: 'lookup',
  input: { q },
  ...extra,
});

describeEachBackend('gateway', (backend) => {
  const sharedDb = sharedGatewayDb(backend);
  let fx: GatewayFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('answers a repeated lookup from the cache, normalizing case and spaces, and records both in the ledger', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.02 }));
    const first = await fx.gateway.call(call('Acme.com', { runId: 7, batchId: 3 }));
    expect(first).toMatchObject({
      found: true,
      cached: false,
      costUsd: 0.02,
      output: { value: 'value-of-Acme.com' },
    });
    const second = await fx.gateway.call(call('  ACME.COM ', { runId: 8, batchId: 3 }));
    expect(second).toMatchObject({ found: true, cached: true, costUsd: 0, savedUsd: 0.02 });
    expect(fx.server.requests).toHaveLength(1);
    const ledger = await listLedger(fx.db, { batchId: 3 });
    expect(
      ledger.map((l) => [l.runId, l.cache, l.status, l.attempt, l.httpStatus, l.costUsd, l.savedUsd]),
    ).toEqual([
      [8, 'hit', 'found', 0, null, 0, 0.02],
      [7, 'miss', 'found', 1, 200, 0.02, 0],
    ]);
  });

  it('caches not-found answers with their own shorter TTL', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ notFoundTtlMs: 300 }));
    expect(await fx.gateway.call(call('none-1'))).toMatchObject({
      found: false,
      output: null,
      cached: false,
    });
    expect(await fx.gateway.call(call('none-1'))).toMatchObject({ found: false, cached: true });
    await fx.gateway.call(call('acme'));
    expect(fx.server.requests).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 400));
    expect(await fx.gateway.call(call('none-1'))).toMatchObject({ found: false, cached: false });
    expect(await fx.gateway.call(call('acme'))).toMatchObject({ cached: true });
    expect(fx.server.countFor('none-1')).toBe(2);
  });

  it('refresh bypasses the cache read and rewrites the entry', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider());
    await fx.gateway.call(call('acme'));
    const fresh = await fx.gateway.call(call('acme', { refresh: true }));
    expect(fresh).toMatchObject({ cached: false, costUsd: 0.01 });
    expect(fx.server.requests).toHaveLength(2);
    expect(await fx.gateway.call(call('acme'))).toMatchObject({ cached: true });
    const caches = (await listLedger(fx.db)).map((l) => l.cache);
    expect(caches).toEqual(['hit', 'refresh', 'miss']);
  });

  it('rejects invalid input naming the field, without a request', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider());
    const err = await fx.gateway.call(call('')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriticalError);
    expect((err as Error).message).toMatch(/field "q"/);
    expect(fx.server.requests).toHaveLength(0);
  });

  it('fails a call whose answer breaks the schema or is malformed, caches nothing, and keeps working', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider());
    await expect(fx.gateway.call(call('garbage-1'))).rejects.toThrow(/does not match its schema.*field "q"/);
    await expect(fx.gateway.call(call('garbage-1'))).rejects.toBeInstanceOf(CriticalError);
    expect(fx.server.countFor('garbage-1')).toBe(2);
    // a truncated 200 is retried like a 5xx (it says nothing about the data), and never cached
    fx.server.inject({ status: 200, body: '{"data": {"q": "x", ' });
    expect(await fx.gateway.call(call('x'))).toMatchObject({ found: true, cached: false });
    expect(fx.server.countFor('x')).toBe(2);
    const errors = (await listLedger(fx.db)).filter((l) => l.status === 'error');
    expect(errors.map((l) => l.errorClass).sort()).toEqual(['critical', 'critical', 'retryable']);
  });

  it('retries 5xx with backoff and records every attempt', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider());
    fx.server.inject({ status: 503 }, { status: 502 });
    expect(await fx.gateway.call(call('acme', { runId: 1 }))).toMatchObject({ found: true });
    const rows = (await listLedger(fx.db, { runId: 1 })).reverse();
    expect(rows.map((r) => [r.attempt, r.status, r.httpStatus, r.errorClass])).toEqual([
      [1, 'error', 503, 'retryable'],
      [2, 'error', 502, 'retryable'],
      [3, 'found', 200, null],
    ]);
  });

  it('gives up after maxAttempts with the retryable error', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ maxAttempts: 2 }));
    fx.server.inject({ status: 500 }, { status: 500 }, { status: 500 });
    await expect(fx.gateway.call(call('acme'))).rejects.toMatchObject({ errorClass: 'retryable' });
    expect(fx.server.requests).toHaveLength(2);
    // The failed call cached nothing and left no marker behind: the next call makes a request.
    expect(await fx.gateway.call(call('acme'))).toMatchObject({ found: true, cached: false });
  });

  it('honors Retry-After and holds every caller of the provider back', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider());
    fx.server.inject({ status: 429, retryAfterS: 1 });
    const t0 = performance.now();
    const a = fx.gateway.call(call('a'));
    await new Promise((r) => setTimeout(r, 150));
    const b = fx.gateway.call(call('b'));
    await Promise.all([a, b]);
    const [first, ...rest] = fx.server.requests;
    expect(rest.map((r) => r.q).sort()).toEqual(['a', 'b']);
    for (const r of rest) expect(r.at - first!.at).toBeGreaterThanOrEqual(950);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('does not sleep a long Retry-After: it throws ThrottledError with the wait so the run is rescheduled', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider(), {}, { maxWaitMs: 2_000 });
    fx.server.inject({ status: 429, retryAfterS: 30 });
    const err = await fx.gateway.call(call('a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThrottledError);
    expect((err as ThrottledError).retryAfterMs).toBe(30_000);
    // Everybody else is held back too, without a request.
    const other = await fx.gateway.call(call('b')).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ThrottledError);
    expect((other as ThrottledError).retryAfterMs).toBeGreaterThan(25_000);
    expect(fx.server.requests).toHaveLength(1);
  });

  it('Hunter style: 403 is a throttle that is retried, 429 exhausts the quota and stops every call', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ style: 'hunter' }), {}, { maxWaitMs: 3_000 });
    fx.server.inject({ hunterThrottle: true });
    expect(await fx.gateway.call(call('a'))).toMatchObject({ found: true });
    expect(fx.server.requests).toHaveLength(2);
    fx.server.inject({ quota: true });
    await expect(fx.gateway.call(call('b'))).rejects.toBeInstanceOf(QuotaExhaustedError);
    await expect(fx.gateway.call(call('c'))).rejects.toBeInstanceOf(QuotaExhaustedError);
    expect(fx.server.requests.map((r) => r.q)).toEqual(['a', 'a', 'b']);
  });

  it('makes one request for identical concurrent calls in one process', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider(), { latencyMs: 100 });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => fx!.gateway.call(call('acme'))));
    expect(fx.server.requests).toHaveLength(1);
    expect(outcomes.filter((o) => o.coalesced)).toHaveLength(4);
    expect(outcomes.reduce((s, o) => s + o.costUsd, 0)).toBeCloseTo(0.01);
    const caches = (await listLedger(fx.db)).map((l) => l.cache).sort();
    expect(caches).toEqual(['coalesced', 'coalesced', 'coalesced', 'coalesced', 'miss']);
  });

  it('makes one request for identical concurrent calls from two workers sharing the database', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider(), { latencyMs: 200 });
    const other = await fx.otherWorker();
    const [a, b] = await Promise.all([fx.gateway.call(call('acme')), other.call(call('acme'))]);
    expect(fx.server.requests).toHaveLength(1);
    expect([a.cached || a.coalesced, b.cached || b.coalesced].sort()).toEqual([false, true]);
    expect(a.costUsd + b.costUsd).toBeCloseTo(0.01);
  });

  // PGlite is one process per data dir: it coalesces in memory and keeps no marker rows.
  it.skipIf(backend === 'pglite')(
    "a crashed leader's marker expires and the waiting worker makes the call",
    async () => {
      fx = await gatewayFixture(sharedDb(), fakeProvider());
      // A marker left by a process that died mid-call.
      const { cacheKeyOf } = await import('../src/cache/cache-key.ts');
      const { key } = cacheKeyOf('fake', 'lookup', { q: 'acme' });
      await fx.db.query(
        "INSERT INTO cache_inflight (key, owner, expires_at) VALUES ($1, 'dead:1', now() + interval '300 milliseconds')",
        [key],
      );
      expect(await fx.gateway.call(call('acme'))).toMatchObject({ found: true, cached: false });
      expect(fx.server.requests).toHaveLength(1);
    },
  );

  it('a cancelled call releases everything it held, and the next identical call goes ahead', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ concurrency: 1 }), { latencyMs: 400 });
    await setBatchBudget(fx.db, 2, 1);
    const controller = new AbortController();
    const cancelled = fx.gateway.call(call('a', { batchId: 2 }), controller.signal);
    setTimeout(() => controller.abort(new Error('run cancelled')), 100);
    await expect(cancelled).rejects.toThrow('run cancelled');
    const t0 = performance.now();
    expect(await (await fx.otherWorker()).call(call('a', { batchId: 2 }))).toMatchObject({
      found: true,
      cached: false,
    });
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(await getBudget(fx.db, 'batch:2')).toMatchObject({ spentUsd: 0.01, reservedUsd: 0 });
    const held = await fx.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM cache_inflight)::int + (SELECT count(*) FROM concurrency_slots WHERE owner IS NOT NULL)::int AS n`,
    );
    expect(held.rows[0]?.n).toBe(0);
  });

  it("a coalesced follower from another batch gets an answer, not the leader's budget error", async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.01 }), { latencyMs: 100 });
    await setBatchBudget(fx.db, 11, 0);
    await setBatchBudget(fx.db, 12, 1);
    const [poor, rich] = await Promise.allSettled([
      fx.gateway.call(call('shared', { batchId: 11 })),
      fx.gateway.call(call('shared', { batchId: 12 })),
    ]);
    expect(poor.status === 'rejected' && poor.reason).toBeInstanceOf(BudgetExceededError);
    expect(rich).toMatchObject({ status: 'fulfilled', value: { found: true, costUsd: 0.01 } });
    expect(fx.server.requests).toHaveLength(1);
    expect(await getBudget(fx.db, 'batch:12')).toMatchObject({ spentUsd: 0.01, reservedUsd: 0 });
  });

  it('stops at the batch budget: refuses the call that would exceed it, keeps what was paid', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.01 }));
    await setBatchBudget(fx.db, 5, 0.025);
    await fx.gateway.call(call('a', { batchId: 5 }));
    await fx.gateway.call(call('b', { batchId: 5 }));
    const err = await fx.gateway.call(call('c', { batchId: 5 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect((err as Error).message).toMatch(/budget of \$0\.03 for batch 5/);
    // Cache hits are free, so they still work; other batches are not affected.
    expect(await fx.gateway.call(call('a', { batchId: 5 }))).toMatchObject({ cached: true });
    await fx.gateway.call(call('d', { batchId: 6 }));
    expect(fx.server.requests.map((r) => r.q)).toEqual(['a', 'b', 'd']);
    expect(await getBudget(fx.db, 'batch:5')).toMatchObject({ spentUsd: 0.02, reservedUsd: 0 });
    const refused = (await listLedger(fx.db, { batchId: 5 })).filter((l) => l.status === 'refused');
    expect(refused.map((l) => l.errorClass)).toEqual(['budget']);
  });

  it('applies a provider daily cap', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.5 }), {}, { dailyCapsUsd: { fake: 1 } });
    await fx.gateway.call(call('a'));
    await fx.gateway.call(call('b'));
    await expect(fx.gateway.call(call('c'))).rejects.toThrow(/daily cap of \$1\.00 for fake/);
    expect(fx.server.requests).toHaveLength(2);
    // The same cap from the environment (.env), as users set it.
    const fromEnv = fx.newGateway({
      dailyCapsUsd: undefined,
      env: { ...fakeEnv(fx.server), SLUICE_FAKE_DAILY_CAP_USD: '1.5' },
    });
    expect(await fromEnv.call(call('c'))).toMatchObject({ found: true });
    await expect(fromEnv.call(call('d'))).rejects.toBeInstanceOf(BudgetExceededError);
    const bad = fx.newGateway({
      dailyCapsUsd: undefined,
      env: { ...fakeEnv(fx.server), SLUICE_FAKE_DAILY_CAP_USD: 'lots' },
    });
    await expect(bad.call(call('e'))).rejects.toThrow(/SLUICE_FAKE_DAILY_CAP_USD="lots" is not an amount/);
  });

  it('concurrent calls never overspend a budget', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.1 }), { latencyMs: 20 });
    await setBatchBudget(fx.db, 9, 0.55);
    const other = await fx.otherWorker();
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? other : fx!.gateway).call(call(`k${i}`, { batchId: 9 }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(fx.server.requests).toHaveLength(5);
    expect((await getBudget(fx.db, 'batch:9'))?.spentUsd).toBeCloseTo(0.5);
  });

  it('calls that start together share one preflight statement and their records are group-committed, each with its own answer', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.1 }));
    for (const q of ['w0', 'w1', 'w2']) await fx.gateway.call(call(q));
    await setBatchBudget(fx.db, 5, 0.75);
    // Statements of this gateway only, by kind (its own Db view: its own group commits).
    const texts: string[] = [];
    const db = Object.create(fx.db) as typeof fx.db;
    db.query = (text, params) => {
      texts.push(text);
      return fx!.db.query(text, params);
    };
    // The answers come back together, so their records can share statements.
    let release: () => void = () => {};
    const answered = new Promise<void>((r) => {
      release = r;
    });
    let waiting = 0;
    const gateway = fx.newGateway(
      {
        fetch: async (url, init) => {
          if (++waiting === 7) release();
          await answered;
          return fetch(url, init);
        },
      },
      db,
    );
    const qs = ['w0', 'n0', 'w1', 'n1', 'n2', 'w2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'];
    const results = await Promise.allSettled(
      qs.map((q, i) => gateway.call(call(q, { batchId: 5, runId: i }))),
    );
    const preflights = texts.filter((t) => /unnest\(\$1::text\[\]/.test(t));
    const records = texts.filter((t) => /unnest\(\$1::bigint\[\]/.test(t));
    expect(preflights).toHaveLength(1);
    expect(records.length).toBeGreaterThanOrEqual(1);
    expect(records.length).toBeLessThan(7);
    // Each call got its own answer; 7 of the 9 misses fit the budget ($0.75 at $0.10), in call order.
    const out = results.map((r, i) =>
      r.status === 'fulfilled'
        ? [qs[i], r.value.cached, (r.value.output as { value: string }).value]
        : [qs[i], r.reason instanceof BudgetExceededError],
    );
    expect(out).toEqual([
      ['w0', true, 'value-of-w0'],
      ['n0', false, 'value-of-n0'],
      ['w1', true, 'value-of-w1'],
      ['n1', false, 'value-of-n1'],
      ['n2', false, 'value-of-n2'],
      ['w2', true, 'value-of-w2'],
      ['n3', false, 'value-of-n3'],
      ['n4', false, 'value-of-n4'],
      ['n5', false, 'value-of-n5'],
      ['n6', false, 'value-of-n6'],
      ['n7', true],
      ['n8', true],
    ]);
    expect(fx.server.requests).toHaveLength(3 + 7);
    const ledger = await listLedger(fx.db, { batchId: 5 });
    expect(
      ledger.map((l) => [l.runId, l.cache, l.status, l.costUsd]).sort((a, b) => Number(a[0]) - Number(b[0])),
    ).toEqual(
      qs.map((q, i) => [
        i,
        q.startsWith('w') ? 'hit' : 'miss',
        q.startsWith('w') ? 'found' : i >= 10 ? 'refused' : 'found',
        q.startsWith('w') || i >= 10 ? 0 : 0.1,
      ]),
    );
    expect(await getBudget(fx.db, 'batch:5')).toMatchObject({ reservedUsd: 0 });
    expect((await getBudget(fx.db, 'batch:5'))?.spentUsd).toBeCloseTo(0.7);
    const left = await fx.db.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM call_attempts) + (SELECT count(*) FROM cache_inflight) AS n',
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
  });
});
