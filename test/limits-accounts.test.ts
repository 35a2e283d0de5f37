import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type GatewayOptions } from '../src/engine/gateway.ts';
import { BudgetExceededError, ConfigError, InfrastructureError } from '../src/errors.ts';
import { resolveAccountFor } from '../src/gateway/resolve-target.ts';
import { busiestWindow, fastestSchedule, limitsEnvVar, parseLimits } from '../src/limits/limit-spec.ts';
import type { ProviderDefinition } from '../src/providers/define-provider.ts';
import { providers as registry } from '../src/providers/registry.ts';
import { describeEachBackend } from './helpers/backends.ts';
import {
  FAKE_API_KEY,
  type FakeServer,
  fakeProvider,
  startFakeServer,
  startFakeServerProcess,
} from './helpers/fake-provider.ts';
import { sharedGatewayDb } from './helpers/gateway-setup.ts';

const byId = (id: string) => registry.find((p) => p.id === id);

/** Window keys and daily-cap ids of one call, as the gateway resolves them. */
function accountOf(
  provider: string,
  operation: string,
  input: unknown,
  options: Partial<Pick<GatewayOptions, 'env' | 'limits' | 'providers'>> = {},
) {
  const a = resolveAccountFor({ providers: byId, ...options }, { provider, operation, input });
  return {
    id: a.id,
    health: a.healthKey,
    windows: a.windows.map((w) => `${w.key}=${w.limit}`),
    caps: a.dailyCaps.map((c) => c.id),
  };
}

const finder = { domain: 'acme.com', first_name: 'Ann', last_name: 'Lee' };

describe('limits belong to the provider account', () => {
  it("Hunter's operations share the account's windows; the verifier adds its own", () => {
    const account = ['hunter:1000ms=15', 'hunter:60000ms=500'];
    expect(accountOf('hunter', 'email-finder', finder).windows).toEqual(account);
    expect(accountOf('hunter', 'domain-search', { domain: 'acme.com' }).windows).toEqual(account);
    expect(accountOf('hunter', 'email-verifier', { email: 'a@acme.com' }).windows).toEqual([
      'hunter.email-verifier:1000ms=10',
      'hunter.email-verifier:60000ms=300',
      ...account,
    ]);
  });

  it('each LLM vendor is its own account; Perplexity through llm and through perplexity is one', () => {
    const llm = (model: string) => accountOf('llm', 'generate', { model, prompt: 'hi' });
    const env = { SLUICE_PERPLEXITY_DAILY_CAP_USD: '3', SLUICE_LLM_DAILY_CAP_USD: '10' };
    expect(llm('anthropic:claude-haiku-4-5')).toMatchObject({
      id: 'anthropic',
      windows: ['anthropic:60000ms=50'],
    });
    expect(llm('openai:gpt-4o-mini')).toMatchObject({ id: 'openai', windows: ['openai:60000ms=500'] });
    const viaLlm = accountOf('llm', 'generate', { model: 'perplexity:sonar', prompt: 'hi' }, { env });
    const direct = accountOf('perplexity', 'chat', { query: 'hi' }, { env });
    expect(viaLlm.windows).toEqual(['perplexity:60000ms=50']);
    expect(direct.windows).toEqual(viaLlm.windows);
    expect(direct.health).toBe(viaLlm.health);
    // One daily cap for the account, whichever provider reaches it (plus llm's own cap on llm calls).
    expect(direct.caps).toEqual(['perplexity']);
    expect(viaLlm.caps).toEqual(['perplexity', 'llm']);
    // A raised perplexity limit (config, sandbox) applies to both.
    const raised = (p: string, op: string, input: unknown) =>
      accountOf(p, op, input, { limits: { perplexity: '500/min' } }).windows;
    expect(raised('llm', 'generate', { model: 'perplexity:sonar', prompt: 'hi' })).toEqual([
      'perplexity:60000ms=500',
    ]);
    expect(raised('perplexity', 'chat', { query: 'hi' })).toEqual(['perplexity:60000ms=500']);
  });

  it('the generic http provider has one account (limiter, circuit) per host', () => {
    const a = accountOf('http', 'request', { method: 'GET', url: 'https://api.example.com/v1/x' });
    const b = accountOf('http', 'request', { method: 'GET', url: 'https://other.example.org/y' });
    expect(a).toMatchObject({ id: 'http:api.example.com', health: 'http:api.example.com' });
    expect(a.windows).toEqual(['http:api.example.com:1000ms=20']);
    expect(b.health).toBe('http:other.example.org');
    const env = { SLUICE_HTTP_LIMITS: '5/s' };
    expect(accountOf('http', 'request', { method: 'GET', url: 'https://x.io/' }, { env }).windows).toEqual([
      'http:x.io:1000ms=5',
    ]);
  });
});

describe('limits from config and env', () => {
  it('parses the written form', () => {
    expect(parseLimits('15/s,500/min', 'X')).toEqual([
      { limit: 15, windowMs: 1_000, label: '15/s' },
      { limit: 500, windowMs: 60_000, label: '500/min' },
    ]);
    expect(
      parseLimits(' 190 / 10s , 625000/day,2000/h,5/250ms', 'X').map((l) => [l.limit, l.windowMs]),
    ).toEqual([
      [190, 10_000],
      [625_000, 86_400_000],
      [2_000, 3_600_000],
      [5, 250],
    ]);
    expect(limitsEnvVar('email-pattern')).toBe('SLUICE_EMAIL_PATTERN_LIMITS');
    expect(limitsEnvVar('hunter', 'email-verifier')).toBe('SLUICE_HUNTER_EMAIL_VERIFIER_LIMITS');
  });

  it('a plan differs: env replaces the account limits, config replaces env', () => {
    const env = { SLUICE_APOLLO_LIMITS: '50/min,100/h,300/day', SLUICE_HUNTER_EMAIL_VERIFIER_LIMITS: '2/s' };
    expect(accountOf('apollo', 'people-match', {}, { env }).windows).toEqual([
      'apollo:3600000ms=100',
      'apollo:60000ms=50',
      'apollo:86400000ms=300',
    ]);
    expect(accountOf('hunter', 'email-verifier', { email: 'a@b.co' }, { env }).windows).toEqual([
      'hunter.email-verifier:1000ms=2',
      'hunter:1000ms=15',
      'hunter:60000ms=500',
    ]);
    const config = { apollo: [{ limit: 600, windowMs: 3_600_000 }] };
    expect(accountOf('apollo', 'people-match', {}, { env, limits: config }).windows).toEqual([
      'apollo:3600000ms=600',
    ]);
  });

  it.each([
    ['15/x', '"15/x" is not a limit'],
    ['15', '"15" is not a limit'],
    ['0/s', '"0/s" is not a limit'],
    ['15/s,', 'an empty limit'],
    ['fast', '"fast" is not a limit'],
  ])('a bad value (%s) stops the gateway at start, naming the variable and the format', (value, what) => {
    const start = () =>
      createGateway({ db: {} as never, providers: byId, env: { SLUICE_HUNTER_LIMITS: value } });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(`SLUICE_HUNTER_LIMITS=${JSON.stringify(value)}: ${what}`);
    expect(start).toThrow('expected comma-separated <count>/<window>');
    expect(start).toThrow('"15/s,500/min"');
  });

  it('the fastest schedule bursts each window full, then waits for its oldest call', () => {
    const hunter = [
      { limit: 15, windowMs: 1_000 },
      { limit: 500, windowMs: 60_000 },
    ];
    expect(fastestSchedule(240, hunter).at(-1)).toBe(15_000);
    const at = fastestSchedule(1_500, hunter);
    expect(at.at(-1)).toBe(153_000);
    expect(busiestWindow(at, 1_000)).toBe(15);
    expect(busiestWindow(at, 60_000)).toBe(500);
  });
});

describeEachBackend('accounts over HTTP', (backend) => {
  const sharedDb = sharedGatewayDb(backend);
  let server: FakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Two providers (one with two operations) that count against one account, `shared`. */
  function sharedProviders(limits = [{ limit: 3, windowMs: 1_000 }]) {
    const p1base = fakeProvider({ id: 'p1', limits, priceUsd: 0.01 });
    const p2: ProviderDefinition = {
      ...fakeProvider({ id: 'p2', limits, priceUsd: 0.01 }),
      accountOf: () => 'shared',
    };
    const p1: ProviderDefinition = {
      ...p1base,
      accountOf: () => 'shared',
      operations: { lookup: p1base.operations.lookup!, other: p1base.operations.lookup! },
    };
    return new Map([
      ['p1', p1],
      ['p2', p2],
    ]);
  }
  const envFor = (s: { url: string }) => ({
    FAKE_API_KEY,
    SLUICE_P1_BASE_URL: s.url,
    SLUICE_P2_BASE_URL: s.url,
  });

  it('calls through two providers and two operations of one account share its windows', async () => {
    // The provider's clock must not share this process's event loop (PGlite runs in it).
    const remote = await startFakeServerProcess({ limits: [{ limit: 3, windowMs: 1_000 }] });
    // A warm connection: a process's first request to a host (connect, cold code) can arrive hundreds
    // of ms after it left on a loaded machine, more than the gateway's coldStartMs allows for.
    for (let i = 0; i < 3; i++) await fetch(`${remote.url}/health`).then((r) => r.text());
    try {
      const ps = sharedProviders();
      const gateway = createGateway({
        db: sharedDb(),
        providers: (id) => ps.get(id),
        env: envFor(remote),
        maxWaitMs: 10_000,
        // Room for a loaded machine (the fake stamps arrivals when its handler runs); the property
        // under test is the sharing: counted per provider or operation, 9 calls would go at once.
        limitMarginMs: 250,
      });
      const calls = Array.from({ length: 9 }, (_, i) => ({
        provider: i % 3 === 2 ? 'p2' : 'p1',
        operation: i % 3 === 1 ? 'other' : 'lookup',
        input: { q: `k${i}` },
      }));
      const out = await Promise.all(calls.map((c) => gateway.call(c)));
      expect(out.every((o) => o.found)).toBe(true);
      const seen = await remote.stats();
      expect(seen.requests).toHaveLength(9);
      // Counted separately per provider or operation, 9 calls would have gone in one second.
      expect(seen.throttled).toBe(0);
      expect(
        busiestWindow(
          seen.requests.map((r) => r.at),
          1_000,
        ),
      ).toBeLessThanOrEqual(3);
    } finally {
      await remote.close();
    }
  });

  it('one daily cap for the account, whichever provider spends it', async () => {
    server = await startFakeServer();
    const ps = sharedProviders([]);
    const gateway = createGateway({
      db: sharedDb(),
      providers: (id) => ps.get(id),
      env: { ...envFor(server), SLUICE_SHARED_DAILY_CAP_USD: '0.02' },
    });
    await gateway.call({ provider: 'p1', operation: 'lookup', input: { q: 'a' } });
    await gateway.call({ provider: 'p2', operation: 'lookup', input: { q: 'b' } });
    const third = gateway.call({ provider: 'p1', operation: 'other', input: { q: 'c' } });
    await expect(third).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(third).rejects.toThrow('daily cap of $0.02 for shared');
    expect(server.requests).toHaveLength(2);
  });

  it('the http provider keeps one circuit per host: a failing host defers only its own calls', async () => {
    let hits = 0;
    const failing = new Hono().get('/x', (c) => {
      hits++;
      return c.json({ error: 'down' }, 500);
    });
    const healthy = new Hono().get('/y', (c) => c.json({ ok: true }));
    const servers = [serve({ fetch: failing.fetch, port: 0 }), serve({ fetch: healthy.fetch, port: 0 })];
    await Promise.all(
      servers.map((s) => new Promise((r) => (s.listening ? r(null) : s.once('listening', r)))),
    );
    const [bad, good] = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`);
    try {
      const gateway = createGateway({
        db: sharedDb(),
        providers: byId,
        services: { outbound: { allowLoopback: true } },
        failureThreshold: 2,
        backoff: { baseMs: 5, capMs: 10 },
      });
      const get = (url: string) => gateway.call({ provider: 'http', operation: 'request', input: { url } });
      // Two failed attempts open the bad host's circuit: the call is deferred, not failed.
      await expect(get(`${bad}/x`)).rejects.toBeInstanceOf(InfrastructureError);
      await expect(get(`${bad}/x?again`)).rejects.toThrow(/circuit open/);
      // The other host is not affected.
      expect(await get(`${good}/y`)).toMatchObject({
        found: true,
        output: { status: 200, body: { ok: true } },
      });
      const state = await sharedDb().query<{ provider: string; open: boolean }>(
        'SELECT provider, open_until > now() AS open FROM provider_state ORDER BY provider',
      );
      expect(state.rows).toEqual([{ provider: `http:${new URL(bad!).host}`, open: true }]);
    } finally {
      for (const s of servers) s.close();
    }
    expect(hits).toBe(2);
  });
});
