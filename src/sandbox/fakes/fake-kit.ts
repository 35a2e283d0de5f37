import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { createRng, unit } from '../rng.ts';

/**
 * Shared machinery of the fake provider servers: seeded latency, coverage / wrong-answer / fault
 * decisions, fixed-window rate counters, a test control switch, and serving a Hono app on a port.
 */

/** Forced behaviour for conformance tests and demos of failure handling. */
export type FaultMode = 'throttle' | 'quota' | 'server-error' | 'malformed' | 'slow';

export interface FakeOptions {
  /** Seed for every random decision. Default: the world's seed. */
  seed?: number;
  /** The key the fake accepts. Default `sandbox-<provider>-key`. */
  apiKey?: string;
  /** Median response latency in ms. Default per provider (tens to hundreds of ms). */
  latencyMs?: number;
  /** Multiplies every latency; 0 = answer at once (tests). Default 1. */
  latencyScale?: number;
  /** Share of the world this provider knows (0..1). Default per provider. */
  coverage?: number;
  /** Share of known answers that are wrong (a plausible but incorrect email, say). Default per provider. */
  wrongRate?: number;
  /** Share of calls that fail with a transient 5xx. Default 0.01. */
  faultRate?: number;
}

export interface FakeControl {
  /** When set, every request (after auth) fails this way. */
  mode: FaultMode | undefined;
  /** How long a `slow` response takes. Default 5 000 ms. */
  slowMs: number;
}

export interface FakeStats {
  requests: number;
  byPath: Record<string, number>;
  /** Requests being answered right now, at most at once, and in-flight time summed (bench/demo.ts). */
  load: FakeLoad;
}

/** Concurrency a fake saw: `inFlightMs / busyMs` is the mean number in flight while it was busy. */
export interface FakeLoad {
  inFlight: number;
  maxInFlight: number;
  /** Sum over requests of their time in the fake (ms). */
  inFlightMs: number;
  /** Time with at least one request in flight (ms). */
  busyMs: number;
  since: number;
}

export const emptyLoad = (): FakeLoad => ({
  inFlight: 0,
  maxInFlight: 0,
  inFlightMs: 0,
  busyMs: 0,
  since: 0,
});

function enterLoad(l: FakeLoad, now: number) {
  settleLoad(l, now);
  l.inFlight++;
  l.maxInFlight = Math.max(l.maxInFlight, l.inFlight);
}
function settleLoad(l: FakeLoad, now: number) {
  if (l.inFlight > 0) {
    l.inFlightMs += l.inFlight * (now - l.since);
    l.busyMs += now - l.since;
  }
  l.since = now;
}

export interface FakeServer {
  app: Hono;
  control: FakeControl;
  stats: FakeStats;
  apiKey: string;
}

export class FakeKit {
  readonly seed: number;
  readonly apiKey: string;
  readonly control: FakeControl = { mode: undefined, slowMs: 5_000 };
  readonly stats: FakeStats = { requests: 0, byPath: {}, load: emptyLoad() };
  private readonly seen = new Map<string, number>();
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly provider: string,
    private readonly options: FakeOptions,
    private readonly defaults: { latencyMs: number; coverage: number; wrongRate: number },
    worldSeed: number,
  ) {
    this.seed = options.seed ?? worldSeed;
    this.apiKey = options.apiKey ?? `sandbox-${provider}-key`;
  }

  get coverage(): number {
    return this.options.coverage ?? this.defaults.coverage;
  }

  /** Does this provider know about `subject`? Stable per (seed, provider, subject). */
  knows(subject: string): boolean {
    return unit(this.seed, `${this.provider}:knows:${subject}`) < this.coverage;
  }

  /** Is this provider's answer about `subject` wrong? Stable per subject, like real stale data. */
  wrong(subject: string): boolean {
    return (
      unit(this.seed, `${this.provider}:wrong:${subject}`) <
      (this.options.wrongRate ?? this.defaults.wrongRate)
    );
  }

  /**
   * Should this call fail transiently? Decided per (request key, nth time it is seen), so a retry of
   * the same request can succeed and runs are reproducible regardless of concurrency.
   */
  fault(requestKey: string): boolean {
    const n = (this.seen.get(requestKey) ?? 0) + 1;
    this.seen.set(requestKey, n);
    return unit(this.seed, `${this.provider}:fault:${requestKey}:${n}`) < (this.options.faultRate ?? 0.01);
  }

  /** Waits a seeded log-normal latency for this request. */
  async delay(requestKey: string): Promise<void> {
    const scale = this.options.latencyScale ?? 1;
    if (scale <= 0) return;
    const median = (this.options.latencyMs ?? this.defaults.latencyMs) * scale;
    const n = this.seen.get(`lat:${requestKey}`) ?? 0;
    this.seen.set(`lat:${requestKey}`, n + 1);
    const ms = Math.min(
      median * 10,
      createRng(this.seed, `${this.provider}:lat:${requestKey}:${n}`).logNormal(median, 0.5),
    );
    await new Promise((r) => setTimeout(r, ms));
  }

  /**
   * Fixed-window counter (Apollo and Hunter count per window). Returns whether the call is allowed,
   * what is left and when the window resets.
   */
  take(key: string, limit: number, windowMs: number, now = Date.now()) {
    let w = this.windows.get(key);
    if (!w || now - w.start >= windowMs) {
      w = { start: now - (now % windowMs), count: 0 };
      this.windows.set(key, w);
    }
    const allowed = w.count < limit;
    if (allowed) w.count++;
    return {
      allowed,
      remaining: Math.max(0, limit - w.count),
      resetMs: w.start + windowMs - now,
      used: w.count,
    };
  }

  /** Records a request and applies the `slow` mode (the caller's timeout should fire first). */
  async enter(c: Context): Promise<void> {
    this.stats.requests++;
    const path = new URL(c.req.url).pathname;
    this.stats.byPath[path] = (this.stats.byPath[path] ?? 0) + 1;
    if (this.control.mode === 'slow') await new Promise((r) => setTimeout(r, this.control.slowMs));
  }
}

/** A malformed body as real servers sometimes send (HTML error page with a JSON content type). */
export function malformed(c: Context): Response {
  return c.body('<html><body>502 Bad Gateway</body></html>{"data":', 200, {
    'content-type': 'application/json',
  });
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves a Hono app on 127.0.0.1 (port 0 = any free port). With `load`, counts the requests in
 * flight (from the request's arrival to its response, body included).
 */
export function listen(app: Hono, port = 0, load?: FakeLoad): Promise<RunningServer> {
  const fetch = !load
    ? app.fetch
    : async (req: Request) => {
        enterLoad(load, performance.now());
        try {
          return await app.fetch(req);
        } finally {
          settleLoad(load, performance.now());
          load.inFlight--;
        }
      };
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            const s = server as unknown as { closeAllConnections?: () => void; close(cb: () => void): void };
            s.closeAllConnections?.();
            s.close(() => done());
          }),
      });
    });
    server.on('error', reject);
  });
}

/** Polls `check` every 100 ms until it holds or `ms` pass; for a demo waiting on a fake or a background loop. */
export async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}
