import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheKeyOf, normalizeForKey, operationCacheKey } from '../src/cache/cache-key.ts';
import { cacheStats, evictCache, purgeCache } from '../src/cache/cache-maintenance.ts';
import { openDb } from '../src/db/open-db.ts';
import { createGateway } from '../src/engine/gateway.ts';
import { forecastCalls } from '../src/engine/gateway-forecast.ts';
import { httpProvider } from '../src/pipelines/http-provider.ts';
import { apollo } from '../src/providers/apollo/index.ts';
import { hunter } from '../src/providers/hunter/index.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { type GatewayFixture, gatewayFixture, sharedGatewayDb } from './helpers/gateway-setup.ts';

const call = (q: string) => ({ provider: 'fake', operation: 'lookup', input: { q } });

describe('cache keys', () => {
  it('are equal for the same lookup written differently, and differ otherwise', () => {
    const a = cacheKeyOf('hunter', 'domain-search', { domain: ' Acme.COM', limit: 10, type: undefined }, [
      'domain',
    ]);
    const b = cacheKeyOf('hunter', 'domain-search', { limit: 10, domain: 'acme.com' }, ['domain']);
    expect(a.key).toBe(b.key);
    expect(a.normalized).toEqual({ domain: 'acme.com', limit: 10 });
    expect(cacheKeyOf('hunter', 'domain-search', { domain: 'acme.org', limit: 10 }).key).not.toBe(a.key);
    expect(cacheKeyOf('hunter', 'email-finder', { domain: 'acme.com', limit: 10 }).key).not.toBe(a.key);
    expect(cacheKeyOf('apollo', 'domain-search', { domain: 'acme.com', limit: 10 }).key).not.toBe(a.key);
  });

  it('fold case only in the fields an operation declares: never URLs, bodies or prompts', () => {
    const http = (url: string, body?: unknown) =>
      operationCacheKey('http', 'request', httpProvider.operations.request, {
        method: 'GET',
        url,
        ...(body === undefined ? {} : { body }),
      }).key;
    expect(http('https://example.com/Docs/A')).not.toBe(http('https://example.com/docs/a'));
    expect(http('https://example.com/x', { q: 'Token' })).not.toBe(
      http('https://example.com/x', { q: 'token' }),
    );
    const prompt = (p: string) => cacheKeyOf('llm', 'generate', { model: 'm', prompt: p }).key;
    expect(prompt('Is it RED?')).not.toBe(prompt('is it red?'));
    // Declared: Hunter's domain and Apollo's email fold; the names next to them do not.
    const finder = hunter.operations['email-finder'];
    const key = (input: Record<string, string>) => operationCacheKey('hunter', 'email-finder', finder, input);
    expect(key({ domain: 'Acme.COM ', first_name: 'Ana', last_name: 'Van Dyke' }).key).toBe(
      key({ domain: 'acme.com', first_name: 'Ana', last_name: 'Van Dyke' }).key,
    );
    expect(key({ domain: 'acme.com', first_name: 'Ana', last_name: 'VAN DYKE' }).key).not.toBe(
      key({ domain: 'acme.com', first_name: 'Ana', last_name: 'Van Dyke' }).key,
    );
    const match = apollo.operations['people-match'];
    expect(operationCacheKey('apollo', 'people-match', match, { email: 'Ana@Acme.com' }).normalized).toEqual({
      email: 'ana@acme.com',
    });
    // Nested paths reach through arrays.
    expect(normalizeForKey({ known: [{ email: 'A@B.com', name: 'Ana' }] }, ['known.email'])).toEqual({
      known: [{ email: 'a@b.com', name: 'Ana' }],
    });
  });

  it('never contain headers: the http step keys method, URL and body only', () => {
    const k = operationCacheKey('http', 'request', httpProvider.operations.request, {
      method: 'GET',
      url: 'https://example.com/x',
      headers: { authorization: ['Bearer ', { secret: 'PLANTED_TOKEN' }], 'x-api-key': 'literal-key-123' },
    });
    expect(JSON.stringify(k.normalized)).not.toMatch(/authorization|PLANTED_TOKEN|literal-key-123|headers/i);
  });
});

describeEachBackend('cache', (backend) => {
  const sharedDb = sharedGatewayDb(backend);
  let fx: GatewayFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('evicts the least recently hit entries beyond the size cap', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider(), {}, { cacheMaxEntries: 3, evictEvery: 1 });
    for (const q of ['a', 'b', 'c']) await fx.gateway.call(call(q));
    expect(await fx.gateway.call(call('a'))).toMatchObject({ cached: true });
    await fx.gateway.call(call('d'));
    const keys = await fx.db.query<{ q: string }>("SELECT input->>'q' AS q FROM cache_entries ORDER BY 1");
    expect(keys.rows.map((r) => r.q)).toEqual(['a', 'c', 'd']);
    expect(await fx.gateway.call(call('b'))).toMatchObject({ cached: false });
    expect(await fx.gateway.call(call('a'))).toMatchObject({ cached: true });
    expect(await evictCache(fx.db, 100)).toBe(0);
  });

  it('purges by provider, operation and age', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider());
    const insert = (key: string, provider: string, operation: string, ageDays: number) =>
      fx!.db.query(
        `INSERT INTO cache_entries (key, provider, operation, input, found, output, expires_at, created_at)
         VALUES ($1, $2, $3, '{}', true, '{}', now() + interval '1 day', now() - $4::int * interval '1 day')`,
        [key, provider, operation, ageDays],
      );
    await insert('k1', 'hunter', 'domain-search', 40);
    await insert('k2', 'hunter', 'domain-search', 1);
    await insert('k3', 'hunter', 'email-finder', 40);
    await insert('k4', 'apollo', 'people-match', 40);
    expect(await purgeCache(fx.db, { provider: 'hunter', olderThanMs: 30 * 86_400_000 })).toBe(2);
    expect(await purgeCache(fx.db, { operation: 'people-match' })).toBe(1);
    const left = await fx.db.query<{ key: string }>('SELECT key FROM cache_entries');
    expect(left.rows.map((r) => r.key)).toEqual(['k2']);
    expect(await purgeCache(fx.db)).toBe(1);
  });

  it('reports hits, misses, coalesced calls and money saved', async () => {
    fx = await gatewayFixture(sharedDb(), fakeProvider({ priceUsd: 0.05 }), { latencyMs: 50 });
    await Promise.all([fx.gateway.call(call('a')), fx.gateway.call(call('a'))]);
    await fx.gateway.call(call('a'));
    await fx.gateway.call(call('none-1'));
    await fx.gateway.call(call('none-1'));
    const [stats] = await cacheStats(fx.db);
    expect(stats).toMatchObject({
      provider: 'fake',
      operation: 'lookup',
      entries: 2,
      notFoundEntries: 1,
      hits: 2,
      coalesced: 1,
      misses: 2,
      hitRate: 0.6,
      spentUsd: 0.05,
    });
    expect(stats?.savedUsd).toBeCloseTo(0.1);
  });

  it('forecasts paid calls, cost and duration from the cache, duplicates and rate limits', async () => {
    const provider = fakeProvider({ priceUsd: 0.02, limits: [{ limit: 5, windowMs: 1_000 }] });
    fx = await gatewayFixture(sharedDb(), provider);
    await fx.gateway.call(call('a'));
    await fx.gateway.call(call('b'));
    const inputs = [...['a', 'B ', 'c', 'd', 'C', 'e'].map((q) => ({ q })), { q: '' }];
    const f = await forecastCalls(fx.db, (id) => (id === 'fake' ? provider : undefined), [
      { provider: 'fake', operation: 'lookup', inputs },
    ]);
    expect(f.lines[0]).toMatchObject({ calls: 7, invalid: 1, uniqueKeys: 5, cacheHits: 2, paidCalls: 3 });
    expect(f.costUsd).toBeCloseTo(0.06);
    expect(f.durationMs).toBeCloseTo(600);
    const refresh = await forecastCalls(fx.db, () => provider, [
      { provider: 'fake', operation: 'lookup', inputs, refresh: true },
    ]);
    expect(refresh.paidCalls).toBe(5);
  });
});

describe('sluice cache / sluice ledger', () => {
  const run = promisify(execFile);
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('shows stats and the ledger, and purges', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cache-cli-'));
    dirs.push(dir);
    const db = await openDb({ dataDir: dir, vacuumIntervalMs: 0 });
    const provider = fakeProvider({ priceUsd: 0.03 });
    const gateway = createGateway({
      db,
      providers: () => provider,
      // No server needed: the operation is replaced by an instant answer.
      fetch: async (url) =>
        new Response(
          JSON.stringify({ data: { q: new URL(String(url)).searchParams.get('q'), value: 'v' } }),
          {
            headers: { 'content-type': 'application/json' },
          },
        ),
      env: { FAKE_API_KEY: 'k' },
    });
    await gateway.call({ ...call('a'), runId: 4 });
    await gateway.call({ ...call('a'), runId: 5 });
    await db.close();
    const sluice = (...args: string[]) =>
      run(process.execPath, ['bin/sluice.js', '--data-dir', dir, ...args], {
        env: { ...process.env, NO_COLOR: '1' },
      });
    const stats = JSON.parse((await sluice('cache', 'stats', '--json')).stdout);
    expect(stats).toMatchObject({ entries: 1, hits: 1, misses: 1 });
    expect(stats.savedUsd).toBeCloseTo(0.03);
    const ledger = JSON.parse((await sluice('ledger', '--run', '4', '--json')).stdout);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      provider: 'fake',
      operation: 'lookup',
      cache: 'miss',
      status: 'found',
      costUsd: 0.03,
    });
    expect((await sluice('ledger')).stdout).toMatch(/fake\.lookup.*hit/);
    expect((await sluice('cache', 'purge', '--provider', 'fake')).stdout).toMatch(/deleted 1 cache entry/);
    const bad = await sluice('cache', 'purge', '--older-than', 'soon').catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toMatch(/--older-than "soon" is not a duration/);
  });
});
