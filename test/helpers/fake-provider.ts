import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { z } from 'zod';
import { QuotaExhaustedError, ThrottledError } from '../../src/errors.ts';
import {
  defineOperation,
  defineProvider,
  type ProviderDefinition,
  type RateLimitSpec,
} from '../../src/providers/define-provider.ts';
import { defaultMapError } from '../../src/providers/http.ts';

/**
 * A generic fake provider for gateway tests, served over real HTTP on 127.0.0.1. It enforces its OWN
 * rate limits (a sliding-window log per window, like a strict provider) and answers past them the way
 * real providers do: 429 with Retry-After, or Hunter's 403 `too_many_requests`. Faults are injected per
 * request: 5xx, throttles, quota exhaustion (Hunter 429), latency, malformed bodies.
 *
 * `GET /lookup?q=...` with header `x-api-key`: `{data: {q, value}}`; a `q` starting with `none` gives
 * `{data: null}` (nothing found); `q` starting with `garbage` gives a body that breaks the schema.
 */
export interface FakeServerOptions {
  /** The server's own limits. Default none. */
  limits?: RateLimitSpec[];
  /** How a request past a limit is answered. Default `429`. */
  throttleStyle?: '429' | 'hunter403';
  /** Retry-After (seconds) sent with a limit-exceeded 429. Default none. */
  retryAfterS?: number;
  /** Latency of every answer. Default 0. */
  latencyMs?: number;
}

export interface Fault {
  status?: number;
  /** Retry-After header, seconds. */
  retryAfterS?: number;
  /** Raw body text (e.g. malformed JSON). */
  body?: string;
  latencyMs?: number;
  /** Hunter-style 403 rate limit. */
  hunterThrottle?: boolean;
  /** Hunter-style 429 "credits used up". */
  quota?: boolean;
}

export interface FakeServer {
  url: string;
  /** Every request received (after auth), with its arrival time (ms, monotonic). */
  requests: { at: number; q: string }[];
  /** Requests answered with a throttle because one of the server's limits was exceeded. */
  throttled: number;
  /** Highest number of requests being answered at the same time. */
  maxInFlight: number;
  countFor(q: string): number;
  /** The next requests get these faults, in order. */
  inject(...faults: Fault[]): void;
  /** While down, every request gets 503. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export const FAKE_API_KEY = 'fake-key-123';

export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const logs = (options.limits ?? []).map((l) => ({ ...l, times: [] as number[] }));
  const faults: Fault[] = [];
  let down = false;
  let inFlight = 0;
  const state: Pick<FakeServer, 'requests' | 'throttled' | 'maxInFlight'> = {
    requests: [],
    throttled: 0,
    maxInFlight: 0,
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const hunter403 = { errors: [{ id: 'too_many_requests', code: 403, details: 'rate limit reached' }] };

  const app = new Hono();
  app.get('/health', (c) => c.json({ ok: true }));
  app.get('/lookup', async (c) => {
    if (c.req.header('x-api-key') !== FAKE_API_KEY) {
      return c.json({ errors: [{ id: 'authentication_failed', code: 401 }] }, 401);
    }
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    try {
      const q = c.req.query('q') ?? '';
      const now = performance.now();
      state.requests.push({ at: now, q });
      const fault = faults.shift();
      const latency = fault?.latencyMs ?? options.latencyMs ?? 0;
      // Count against the limits first (the request was received, whatever the answer).
      let exceeded = false;
      for (const log of logs) {
        while (log.times.length > 0 && log.times[0]! <= now - log.windowMs) log.times.shift();
        if (log.times.length >= log.limit) exceeded = true;
      }
      if (exceeded) {
        state.throttled++;
        if (options.throttleStyle === 'hunter403') return c.json(hunter403, 403);
        if (options.retryAfterS !== undefined) c.header('Retry-After', String(options.retryAfterS));
        return c.json({ message: 'Too Many Requests' }, 429);
      }
      for (const log of logs) log.times.push(now);
      if (latency > 0) await sleep(latency);
      if (down) return c.json({ message: 'service unavailable' }, 503);
      if (fault?.hunterThrottle) return c.json(hunter403, 403);
      if (fault?.quota) {
        return c.json(
          { errors: [{ id: 'too_many_requests', code: 429, details: "You've reached the limit" }] },
          429,
        );
      }
      if (fault?.status !== undefined || fault?.body !== undefined) {
        if (fault.retryAfterS !== undefined) c.header('Retry-After', String(fault.retryAfterS));
        c.header('content-type', 'application/json');
        return c.body(
          fault.body ?? JSON.stringify({ message: `fault ${fault.status}` }),
          (fault.status ?? 200) as 200,
        );
      }
      if (q.startsWith('none')) return c.json({ data: null });
      if (q.startsWith('garbage')) return c.json({ data: { q: 42 } });
      return c.json({ data: { q, value: `value-of-${q}` } });
    } finally {
      inFlight--;
    }
  });

  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => {
    if (server.listening) resolve();
    else server.once('listening', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // Warm up (router, parsers, the client's fetch): a cold first request would be timed late and
  // look bunched with the next one.
  for (let i = 0; i < 3; i++) await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.text());
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    countFor: (q: string) => state.requests.filter((r) => r.q === q).length,
    inject: (...f: Fault[]) => {
      faults.push(...f);
    },
    setDown: (d: boolean) => {
      down = d;
    },
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  });
}

/** The counters of a fake server running in another process. */
export interface RemoteFakeServer {
  url: string;
  stats(): Promise<Pick<FakeServer, 'requests' | 'throttled' | 'maxInFlight'>>;
  close(): Promise<void>;
}

/**
 * The fake server in a child process: its arrival clock then runs on an event loop that the test's
 * own database work (PGlite runs in-process) cannot stall, as a real provider's would.
 */
export async function startFakeServerProcess(options: FakeServerOptions = {}): Promise<RemoteFakeServer> {
  const script = fileURLToPath(new URL('./fake-provider-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { url, statsUrl } = await new Promise<{ url: string; statsUrl: string }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))));
    });
    child.once('exit', (code) => reject(new Error(`fake server process exited with ${code}`)));
  });
  return {
    url,
    stats: async () => (await fetch(statsUrl)).json() as ReturnType<RemoteFakeServer['stats']>,
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

export interface FakeProviderOptions {
  id?: string;
  limits?: RateLimitSpec[];
  opLimits?: RateLimitSpec[];
  concurrency?: number;
  /**
   * `hunter`: 403 = throttle, 429 = credits exhausted. `generic`: the default mapping (429 = throttle).
   * `mixed`: 403 = throttle (Hunter's burst answer) and 429 = throttle with Retry-After (fault-mix tests).
   */
  style?: 'generic' | 'hunter' | 'mixed';
  /** Per-request timeout of `lookup`. Default 5 000 ms. */
  timeoutMs?: number;
  priceUsd?: number;
  maxAttempts?: number;
  cacheTtlMs?: number;
  notFoundTtlMs?: number;
}

/** A provider definition for the fake server: one operation, `lookup`. */
export function fakeProvider(options: FakeProviderOptions = {}): ProviderDefinition {
  const id = options.id ?? 'fake';
  const price = options.priceUsd ?? 0.01;
  const provider: ProviderDefinition = defineProvider({
    id,
    name: 'Fake provider',
    auth: { envVar: 'FAKE_API_KEY', required: true },
    baseUrl: 'http://127.0.0.1:9',
    applyAuth: (req, key) => ({ ...req, headers: { ...req.headers, 'x-api-key': key } }),
    limits: options.limits ?? [],
    concurrency: options.concurrency ?? Number.POSITIVE_INFINITY,
    mapError: (res) => {
      if (options.style === 'mixed' && res.status === 403)
        return new ThrottledError(`${id}: rate limit (403)`);
      if (options.style === 'hunter') {
        if (res.status === 403) return new ThrottledError(`${id}: rate limit (403)`);
        if (res.status === 429) return new QuotaExhaustedError(`${id}: monthly credits used up (429)`);
      }
      return defaultMapError(provider, res);
    },
    operations: {
      lookup: defineOperation({
        description: 'Looks up a value by query',
        input: z.object({ q: z.string().min(1) }),
        output: z.object({ q: z.string(), value: z.string() }),
        priceUsd: price,
        // The fake's queries are case-insensitive (like a domain): `B ` and `b` are one lookup.
        caseInsensitive: ['q'],
        limits: options.opLimits,
        maxAttempts: options.maxAttempts,
        cacheTtlMs: options.cacheTtlMs,
        notFoundTtlMs: options.notFoundTtlMs,
        timeoutMs: options.timeoutMs ?? 5_000,
        async run(ctx, input) {
          const res = await ctx.request({ method: 'GET', path: '/lookup', query: { q: input.q } });
          const body = res.body as { data: unknown };
          if (body.data === null) return { found: false, costUsd: 0 };
          return { found: true, output: body.data as { q: string; value: string }, costUsd: price };
        },
      }),
    },
  });
  return provider;
}

/** The env a gateway needs to call the fake server. */
export function fakeEnv(server: { url: string }, id = 'fake'): Record<string, string> {
  return { FAKE_API_KEY, [`SLUICE_${id.toUpperCase()}_BASE_URL`]: server.url };
}
