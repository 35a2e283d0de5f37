import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  CriticalError,
  NotFoundError,
  RetryableError,
  ThrottledError,
} from '../../src/errors.ts';
import { defineProvider } from '../../src/providers/define-provider.ts';
import {
  checkCredentials,
  createOperationContext,
  parseRetryAfter,
  resolveBaseUrl,
} from '../../src/providers/http.ts';
import { providers } from '../../src/providers/registry.ts';

const demo = defineProvider({
  id: 'demo-api',
  name: 'Demo',
  auth: { envVar: 'DEMO_API_KEY', required: true },
  baseUrl: 'https://api.demo.example/v1/',
  applyAuth: (req, key) => ({ ...req, query: { ...req.query, api_key: key } }),
  limits: [],
  concurrency: 1,
  operations: {},
});

/** A context whose fetch answers with `response` and records the request it got. */
function withResponse(response: () => Response, env: Record<string, string> = { DEMO_API_KEY: 'k-123' }) {
  const seen: { url?: string; init?: RequestInit } = {};
  const ctx = createOperationContext(demo, {
    env,
    fetch: async (url, init) => {
      seen.url = String(url);
      seen.init = init;
      return response();
    },
  });
  return { ctx, seen };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });

describe('base URL and credentials', () => {
  it('uses SLUICE_<ID>_BASE_URL over the default and drops trailing slashes', () => {
    expect(resolveBaseUrl(demo, {})).toBe('https://api.demo.example/v1');
    expect(resolveBaseUrl(demo, { SLUICE_DEMO_API_BASE_URL: 'http://127.0.0.1:9999/' })).toBe(
      'http://127.0.0.1:9999',
    );
    expect(resolveBaseUrl(demo, { SLUICE_DEMO_API_BASE_URL: 'x' }, 'http://override')).toBe(
      'http://override',
    );
  });

  it('rejects a base URL that is not http(s), naming the variable', () => {
    expect(() => resolveBaseUrl(demo, { SLUICE_DEMO_API_BASE_URL: 'ftp://x' })).toThrow(
      /SLUICE_DEMO_API_BASE_URL/,
    );
  });

  it('checkCredentials names every missing key variable before a run starts', () => {
    const hunter = providers.find((p) => p.id === 'hunter')!;
    const apollo = providers.find((p) => p.id === 'apollo')!;
    const jina = providers.find((p) => p.id === 'jina')!;
    const err = (() => {
      try {
        checkCredentials([hunter, apollo, jina], { APOLLO_API_KEY: '  ' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toContain('HUNTER_API_KEY');
    expect(err?.message).toContain('APOLLO_API_KEY'); // blank counts as missing
    expect(err?.message).not.toContain('JINA_API_KEY'); // optional
    expect(() => checkCredentials([hunter, jina], { HUNTER_API_KEY: 'x' })).not.toThrow();
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('request', () => {
  it('applies auth and query, and parses JSON', async () => {
    const { ctx, seen } = withResponse(json(200, { ok: 1 }));
    const res = await ctx.request({
      method: 'GET',
      path: '/things',
      query: { q: 'a b', skip: undefined, ids: ['1', '2'] },
    });
    expect(res.body).toEqual({ ok: 1 });
    const url = new URL(seen.url!);
    expect(url.pathname).toBe('/v1/things');
    expect(url.searchParams.get('api_key')).toBe('k-123');
    expect(url.searchParams.getAll('ids')).toEqual(['1', '2']);
    expect(url.searchParams.has('skip')).toBe(false);
  });

  it('maps statuses in one place: 5xx retryable, 429 throttled with Retry-After, 401 critical naming the key, 404 not found, 400 critical', async () => {
    const cases: [() => Response, new (...a: never[]) => Error][] = [
      [json(503, { error: 'busy' }), RetryableError],
      [json(429, {}, { 'retry-after': '12' }), ThrottledError],
      [json(401, { error: 'bad key' }), CriticalError],
      [json(404, {}), NotFoundError],
      [json(400, { message: 'bad param' }), CriticalError],
    ];
    for (const [response, cls] of cases) {
      const { ctx } = withResponse(response);
      const err = await ctx.request({ method: 'GET', path: '/x' }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(cls);
      if (err instanceof ThrottledError) expect(err.retryAfterMs).toBe(12_000);
      if (err instanceof CriticalError && err.message.includes('401'))
        expect(err.message).toContain('check DEMO_API_KEY');
    }
  });

  it('a garbage or truncated success body is retryable (like a 5xx), with no key in the message', async () => {
    for (const body of ['<html>oops', '{"data": {"email": "ann@']) {
      const { ctx } = withResponse(
        () => new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }),
      );
      const err = await ctx.request({ method: 'GET', path: '/x' }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as Error).message).not.toContain('k-123');
    }
  });

  it('acceptStatus lets an operation handle a non-2xx status itself', async () => {
    const { ctx } = withResponse(json(202, { data: { status: 'pending' } }));
    const res = await ctx.request({ method: 'GET', path: '/x', acceptStatus: [202] });
    expect(res.status).toBe(202);
  });

  it('network errors are retryable and never leak the key', async () => {
    const ctx = createOperationContext(demo, {
      env: { DEMO_API_KEY: 'k-123', SLUICE_DEMO_API_BASE_URL: 'http://127.0.0.1:1' },
    });
    const err = await ctx.request({ method: 'GET', path: '/x' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as Error).message).not.toContain('k-123');
  });

  it('a cancelled run aborts the request with the caller’s reason, not a retryable error', async () => {
    const controller = new AbortController();
    const ctx = createOperationContext(demo, {
      env: { DEMO_API_KEY: 'k' },
      signal: controller.signal,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) =>
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
        ),
    });
    const pending = ctx.request({ method: 'GET', path: '/x' }).catch((e: Error) => e);
    controller.abort(new Error('run cancelled'));
    const err = await pending;
    expect(err).not.toBeInstanceOf(RetryableError);
    expect((err as Error).message).toBe('run cancelled');
  });
});

describe('registry', () => {
  it('lists every provider once, each with operations and input/output schemas', () => {
    const ids = providers.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining(['hunter', 'apollo', 'perplexity', 'jina', 'website', 'email-pattern', 'llm']),
    );
    for (const p of providers) {
      expect(Object.keys(p.operations).length).toBeGreaterThan(0);
      for (const op of Object.values(p.operations)) expect(op.priceUsd).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('checkCredentialsFor', () => {
  it('checks provider keys and the keys of the models an ai step uses', async () => {
    const { checkCredentialsFor } = await import('../../src/providers/credentials.ts');
    expect(() => checkCredentialsFor({ providers: ['website', 'email-pattern', 'jina'] }, {})).not.toThrow();
    expect(() => checkCredentialsFor({ providers: ['hunter'] }, {})).toThrow(/HUNTER_API_KEY/);
    expect(() =>
      checkCredentialsFor(
        { providers: ['llm'], models: ['anthropic:claude-sonnet-4-5', 'openai:gpt-4o-mini'] },
        { OPENAI_API_KEY: 'x' },
      ),
    ).toThrow(/ANTHROPIC_API_KEY/);
    expect(() => checkCredentialsFor({ providers: ['llm'], models: ['mistral:large'] }, {})).toThrow(
      /anthropic:<model>/,
    );
  });
});
