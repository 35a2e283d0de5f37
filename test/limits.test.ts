import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { InfrastructureError, RetryableError, ThrottledError } from '../src/errors.ts';
import { listLedger } from '../src/ledger/ledger-query.ts';
import type { RateLimitSpec } from '../src/providers/define-provider.ts';
import { describeEachBackend, TEST_DATABASE_URL } from './helpers/backends.ts';
import { type FakeServer, fakeEnv, fakeProvider, startFakeServerProcess } from './helpers/fake-provider.ts';
import { type GatewayFixture, gatewayFixture, sharedGatewayDb } from './helpers/gateway-setup.ts';

const call = (q: string) => ({ provider: 'fake', operation: 'lookup', input: { q } });

/** Achieved calls/s between the first and the last request the fake server received. */
function measuredRate(server: Pick<FakeServer, 'requests'>): number {
  const at = server.requests.map((r) => r.at);
  return ((at.length - 1) / (Math.max(...at) - Math.min(...at))) * 1000;
}

/** Most requests the server saw in any window of `windowMs` (its own sliding-window count). */
function busiestWindow(server: Pick<FakeServer, 'requests'>, windowMs: number): number {
  const at = server.requests.map((r) => r.at).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

async function runAll<T>(n: number, parallel: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

describeEachBackend('limits', (backend) => {
  const sharedDb = sharedGatewayDb(backend);
  let fx: GatewayFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('never exceeds any of several declared windows, and runs close to the binding one', async () => {
    const limits: RateLimitSpec[] = [{ limit: 10, windowMs: 1_000 }];
    const opLimits: RateLimitSpec[] = [{ limit: 20, windowMs: 2_500 }];
    // The provider's clock must not share this process's event loop (PGlite runs in it).
    const remote = await startFakeServerProcess({ limits: [...limits, ...opLimits] });
    try {
      fx = await gatewayFixture(
        sharedDb(),
        fakeProvider({ limits, opLimits }),
        {},
        {
          maxWaitMs: 10_000,
          env: fakeEnv(remote),
        },
      );
      const other = await fx.otherWorker();
      const outcomes = await runAll(24, 12, (i) => (i % 2 ? other : fx!.gateway).call(call(`k${i}`)));
      expect(outcomes.every((o) => o.found)).toBe(true);
      const seen = await remote.stats();
      expect(seen.throttled).toBe(0);
      expect(busiestWindow(seen, 1_000)).toBeLessThanOrEqual(10);
      expect(busiestWindow(seen, 2_500)).toBeLessThanOrEqual(20);
      // The binding window is 20 per 2.5 s = 8/s: evenly spaced calls get close to it.
      const rate = measuredRate(seen);
      expect(rate).toBeGreaterThan(8 * 0.85);
      expect(rate).toBeLessThanOrEqual(8.05);
      expect(busiestWindow(seen, 2_500)).toBeGreaterThanOrEqual(18);
    } finally {
      await remote.close();
    }
  });

  it('a throttle holds back every call of the provider, including calls already booked', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ limits: [{ limit: 20, windowMs: 1_000 }] }));
    fx.server.inject({ status: 429, retryAfterS: 1 });
    const other = await fx.otherWorker();
    await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? other : fx!.gateway).call(call(`k${i}`))));
    const [first, ...rest] = fx.server.requests;
    expect(rest).toHaveLength(6);
    for (const r of rest) expect(r.at - first!.at).toBeGreaterThanOrEqual(950);
    expect(fx.server.throttled).toBe(0);
  });

  it('throws ThrottledError instead of waiting longer than maxWaitMs, without booking the limiter', async () => {
    fx = await gatewayFixture(
      sharedDb(),
      fakeProvider({ limits: [{ limit: 2, windowMs: 1_000 }] }),
      {},
      { maxWaitMs: 700 },
    );
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => fx!.gateway.call(call(`k${i}`))),
    );
    const refused = results
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason);
    // Places are 520 ms apart: the first one or two calls fit in 700 ms (how many depends on how fast
    // this machine books them), the rest are refused without booking anything.
    const fulfilled = results.filter((r) => r.status === 'fulfilled').length;
    expect(fulfilled).toBeGreaterThanOrEqual(1);
    expect(fulfilled).toBeLessThanOrEqual(2);
    expect(refused).toHaveLength(5 - fulfilled);
    for (const err of refused) {
      expect(err).toBeInstanceOf(ThrottledError);
      expect((err as ThrottledError).retryAfterMs).toBeGreaterThan(700);
    }
    expect(fx.server.requests).toHaveLength(fulfilled);
    // The refused calls booked nothing: the next place is right after the granted ones (had they
    // booked, it would be more than 1.5 s away and this call would be refused too).
    expect(await fx.gateway.call(call('later'))).toMatchObject({ found: true });
  });

  it('caps calls in flight per provider across workers', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ concurrency: 2 }), { latencyMs: 60 });
    const other = await fx.otherWorker();
    await runAll(10, 10, (i) => (i % 2 ? other : fx!.gateway).call(call(`k${i}`)));
    expect(fx.server.requests).toHaveLength(10);
    expect(fx.server.maxInFlight).toBe(2);
    const held = await fx.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM concurrency_slots WHERE owner IS NOT NULL',
    );
    expect(held.rows[0]?.n).toBe(0);
  });

  it('opens the circuit after consecutive failures, defers calls, and closes after a successful probe', async () => {
    fx = await gatewayFixture(
      sharedDb(),
      fakeProvider({ maxAttempts: 1 }),
      {},
      { failureThreshold: 3, circuitCooldownMs: 400 },
    );
    fx.server.setDown(true);
    for (const q of ['a', 'b', 'c'])
      await expect(fx.gateway.call(call(q))).rejects.toBeInstanceOf(RetryableError);
    const deferred = await fx.gateway.call(call('d')).catch((e: unknown) => e);
    expect(deferred).toBeInstanceOf(InfrastructureError);
    const retryAt = (deferred as InfrastructureError).retryAt!.getTime();
    expect(retryAt - Date.now()).toBeGreaterThan(100);
    expect(retryAt - Date.now()).toBeLessThanOrEqual(1_500);
    await expect((await fx.otherWorker()).call(call('e'))).rejects.toBeInstanceOf(InfrastructureError);
    expect(fx.server.requests).toHaveLength(3);
    fx.server.setDown(false);
    await new Promise((r) => setTimeout(r, 450));
    expect(await fx.gateway.call(call('d'))).toMatchObject({ found: true });
    expect(await fx.gateway.call(call('e'))).toMatchObject({ found: true });
    const refused = (await listLedger(fx.db)).filter((l) => l.status === 'refused');
    expect(refused.map((l) => l.errorClass)).toEqual(['infrastructure', 'infrastructure']);
  });

  it('a call whose own retries open the circuit is deferred, not failed', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ maxAttempts: 6 }), {}, { failureThreshold: 3 });
    fx.server.setDown(true);
    await expect(fx.gateway.call(call('a'))).rejects.toBeInstanceOf(InfrastructureError);
    expect(fx.server.requests).toHaveLength(3);
  });
});

describeEachBackend('limits across processes', (backend) => {
  it.skipIf(backend !== 'postgres' || !TEST_DATABASE_URL)(
    'three worker processes never exceed a global limit',
    async () => {
      const limits: RateLimitSpec[] = [
        { limit: 20, windowMs: 1_000 },
        { limit: 40, windowMs: 2_500 },
      ];
      const fx = await gatewayFixture(backend, fakeProvider({ limits }), { limits });
      try {
        const child = fileURLToPath(new URL('./helpers/gateway-child.ts', import.meta.url));
        const { url, schema } = fx.db.connection!;
        const children = ['p1', 'p2', 'p3'].map((prefix) => {
          const p = spawn(
            process.execPath,
            ['--import', 'tsx', child, url, schema, fx.server.url, JSON.stringify(limits), prefix, '16'],
            { stdio: ['pipe', 'pipe', 'pipe'] },
          );
          let out = '';
          let err = '';
          let onReady: () => void = () => {};
          const ready = new Promise<void>((resolve) => {
            onReady = resolve;
          });
          p.stdout.on('data', (d) => {
            out += d;
            if (out.startsWith('ready\n')) onReady();
          });
          p.stderr.on('data', (d) => (err += d));
          const done = new Promise<{ ok: number; throttled: number; other: number }>((resolve, reject) =>
            p.on('exit', (code) =>
              code === 0
                ? resolve(JSON.parse(out.slice('ready\n'.length).trim()))
                : reject(new Error(`child exited ${code}: ${err}`)),
            ),
          );
          return { p, ready, done };
        });
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.p.stdin.end('go\n');
        const runs = children.map((c) => c.done);
        const results = await Promise.all(runs);
        expect(results).toEqual([
          { ok: 16, throttled: 0, other: 0 },
          { ok: 16, throttled: 0, other: 0 },
          { ok: 16, throttled: 0, other: 0 },
        ]);
        expect(fx.server.requests).toHaveLength(48);
        expect(fx.server.throttled).toBe(0);
        expect(busiestWindow(fx.server, 1_000)).toBeLessThanOrEqual(20);
        expect(busiestWindow(fx.server, 2_500)).toBeLessThanOrEqual(40);
        // Not trivially slow either: the shared limit was used (without coordination, three
        // processes would each send at the full rate and be throttled).
        expect(busiestWindow(fx.server, 2_500)).toBeGreaterThanOrEqual(34);
      } finally {
        await fx.close();
      }
    },
  );
});
