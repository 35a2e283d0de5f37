import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One fake API behind the server: `/<id>/lookup?q=...`. */
export interface FakeApiSpec {
  /** Requests allowed in any 1 s window; past it the server answers 429 (counted as throttled). */
  ratePerSecond?: number;
  /**
   * Sliding windows counted the way providers count: at most `limit` requests in any `windowMs`
   * (every request received counts, like Hunter's); past any of them the server answers 429.
   */
  windows?: { limit: number; windowMs: number }[];
  /** Answer delay in ms. Default 0. */
  latencyMs?: number;
  /** Queries answering 404 (nothing found), decided by this predicate. Default none. */
  notFound?: (q: string) => boolean;
  /** An HTTP error status to answer for a query (e.g. 400, 503), decided per request. Default none. */
  failWith?: (q: string) => number | undefined;
}

export interface FakeApiStats {
  requests: number;
  throttled: number;
  /** Most requests seen in any 1 s window. */
  maxPerSecond: number;
  /** Requests per query: more than 1 for a query means it was paid twice. */
  perQuery: Record<string, number>;
  /** Arrival of the first and the last accepted request, ms (performance.now of the server). */
  firstAt: number | null;
  lastAt: number | null;
  /** Accepted requests per second since the first one (index = second). */
  perSecond: number[];
  /** Every accepted request with its arrival, epoch ms (sub-ms), when the spec has `windows`. */
  arrivals: { q: string; at: number }[];
  /** Most requests seen in any window of each spec window (`windowMs` → count), accepted ones. */
  maxInWindow: Record<string, number>;
  /** Every request answered 429 by a sliding window, with its arrival (epoch ms, like `arrivals`). */
  rejections: { q: string; at: number }[];
}

/**
 * A local fake of rate-limited paid APIs that counts every request and enforces its own limit, like
 * the real ones: tests and benchmarks read its counters to prove no limit was exceeded and no lookup
 * was paid twice, across any number of worker processes.
 */
export async function startFakeLimitedServer(apis: Record<string, FakeApiSpec>) {
  const stats: Record<string, FakeApiStats> = {};
  const recent: Record<string, number[]> = {};
  const logs: Record<string, { limit: number; windowMs: number; times: number[] }[]> = {};
  for (const id of Object.keys(apis)) {
    stats[id] = {
      requests: 0,
      throttled: 0,
      maxPerSecond: 0,
      perQuery: {},
      firstAt: null,
      lastAt: null,
      perSecond: [],
      arrivals: [],
      maxInWindow: {},
      rejections: [],
    };
    recent[id] = [];
    logs[id] = (apis[id]!.windows ?? []).map((w) => ({ ...w, times: [] as number[] }));
  }
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname === '/__stats') {
      // for benchmarks running the server in its own process
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
      return;
    }
    const [, id, op] = url.pathname.split('/');
    const spec = id ? apis[id] : undefined;
    if (!spec || !id || op !== 'lookup') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such endpoint"}');
      return;
    }
    const s = stats[id]!;
    const now = performance.now();
    const window = recent[id]!;
    while (window.length > 0 && window[0]! <= now - 1000) window.shift();
    if (spec.ratePerSecond !== undefined && window.length >= spec.ratePerSecond) {
      s.throttled += 1;
      if (process.env.FAKE_DEBUG)
        console.error('throttled', id, now.toFixed(1), window.map((t) => (now - t).toFixed(1)).join(' '));
      res
        .writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
        .end('{"error":"rate limited"}');
      return;
    }
    let over = false;
    for (const log of logs[id]!) {
      while (log.times.length > 0 && log.times[0]! <= now - log.windowMs) log.times.shift();
      if (log.times.length >= log.limit) over = true;
    }
    if (over) {
      s.throttled += 1;
      s.rejections.push({ q: url.searchParams.get('q') ?? '', at: performance.timeOrigin + now });
      res
        .writeHead(429, { 'content-type': 'application/json' })
        .end('{"error":"rate limited (sliding window)"}');
      return;
    }
    for (const log of logs[id]!) {
      log.times.push(now);
      s.maxInWindow[log.windowMs] = Math.max(s.maxInWindow[log.windowMs] ?? 0, log.times.length);
    }
    window.push(now);
    s.requests += 1;
    s.firstAt ??= now;
    s.lastAt = now;
    const second = Math.floor((now - s.firstAt) / 1000);
    s.perSecond[second] = (s.perSecond[second] ?? 0) + 1;
    s.maxPerSecond = Math.max(s.maxPerSecond, window.length);
    const q = url.searchParams.get('q') ?? '';
    s.perQuery[q] = (s.perQuery[q] ?? 0) + 1;
    if (logs[id]!.length > 0) s.arrivals.push({ q, at: performance.timeOrigin + now });
    const answer = () => {
      const status = spec.failWith?.(q);
      if (status)
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"injected fault"}');
      else if (spec.notFound?.(q))
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      else
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ value: `${id}:${q}` }));
    };
    if (spec.latencyMs) setTimeout(answer, spec.latencyMs);
    else answer();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    /** Queries requested more than once (duplicate paid lookups). */
    duplicates(id: string): string[] {
      return Object.entries(stats[id]?.perQuery ?? {})
        .filter(([, n]) => n > 1)
        .map(([q]) => q);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
