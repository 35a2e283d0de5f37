import { PerformanceObserver, performance } from 'node:perf_hooks';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ServerEnv } from './server-env.ts';

/** HTTP latency buckets in seconds (Prometheus histogram `le` bounds); a read by id takes about 0.5 ms. */
const HTTP_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Event-loop delay and GC pause buckets, seconds. */
const PAUSE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** How often the event-loop delay is sampled, ms. */
const LOOP_SAMPLE_MS = 10;

interface Series {
  labels: string;
  counts: number[];
  sum: number;
  count: number;
}

/** A Prometheus histogram with label sets, cumulative since the process started. */
export class Histogram {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  /** `labels` is the rendered label list (`a="x",b="y"`, already escaped), or '' for none. */
  observe(labels: string, seconds: number): void {
    let s = this.series.get(labels);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(labels, s);
    }
    for (let i = this.buckets.length - 1; i >= 0 && seconds <= this.buckets[i]!; i--) s.counts[i]! += 1;
    s.sum += seconds;
    s.count += 1;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      const pre = s.labels ? `${s.labels},` : '';
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket{${pre}le="${b}"} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      const l = s.labels ? `{${s.labels}}` : '';
      out.push(`${this.name}_sum${l} ${s.sum}`);
      out.push(`${this.name}_count${l} ${s.count}`);
    }
    return out;
  }
}

/**
 * This process's own figures for `/metrics`: HTTP request latency per route pattern, method and status
 * (measured inside the app: from the first middleware to the handler's response, also sent to the
 * client as `Server-Timing: app;dur=<ms>`), and once `watchRuntime()` runs, the event loop: how late a
 * timer due every 10 ms fires (`sluice_event_loop_delay_seconds`: a request arriving then waits about
 * as long before any handler starts), busy time, and garbage-collection pauses. The first tells the
 * handlers' cost apart from the waiting in front of them, which the client sees and the app does not.
 */
export class HttpMetrics {
  private readonly http = new Histogram(
    'sluice_http_request_duration_seconds',
    'HTTP request latency by route, inside the app (Server-Timing app)',
    HTTP_BUCKETS,
  );
  private readonly loopDelay = new Histogram(
    'sluice_event_loop_delay_seconds',
    `how late a timer due every ${LOOP_SAMPLE_MS} ms ran: the wait in front of a request arriving then`,
    PAUSE_BUCKETS,
  );
  private readonly gc = new Histogram(
    'sluice_gc_pause_seconds',
    'garbage-collection pauses of this process by kind',
    PAUSE_BUCKETS,
  );
  private watching = false;
  private elu0 = performance.eventLoopUtilization();

  observe(method: string, route: string, status: number, seconds: number): void {
    this.http.observe(
      `method="${escapeLabel(method)}",route="${escapeLabel(route)}",status="${status}"`,
      seconds,
    );
  }

  /**
   * Starts sampling the event loop and observing GC pauses (a 10 ms timer that does not keep the
   * process alive, and a PerformanceObserver); returns the stop function.
   */
  watchRuntime(): () => void {
    this.watching = true;
    this.elu0 = performance.eventLoopUtilization();
    let due = performance.now() + LOOP_SAMPLE_MS;
    let timer: NodeJS.Timeout;
    const tick = () => {
      const now = performance.now();
      this.loopDelay.observe('', Math.max(0, now - due) / 1000);
      due = now + LOOP_SAMPLE_MS;
      timer = setTimeout(tick, LOOP_SAMPLE_MS);
      timer.unref();
    };
    timer = setTimeout(tick, LOOP_SAMPLE_MS);
    timer.unref();
    const kinds: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
        this.gc.observe(`kind="${kinds[kind] ?? 'other'}"`, e.duration / 1000);
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    return () => {
      clearTimeout(timer);
      gcObserver.disconnect();
    };
  }

  /** Prometheus text lines of this process's figures. */
  render(): string[] {
    const out = this.http.render();
    if (!this.watching) return out;
    const busy = performance.eventLoopUtilization(this.elu0).active / 1000;
    out.push(
      ...this.loopDelay.render(),
      '# HELP sluice_event_loop_busy_seconds_total time the event loop spent running code, not waiting',
      '# TYPE sluice_event_loop_busy_seconds_total counter',
      `sluice_event_loop_busy_seconds_total ${busy}`,
      ...this.gc.render(),
    );
    return out;
  }

  middleware(): MiddlewareHandler<ServerEnv> {
    return async (c, next) => {
      const start = performance.now();
      try {
        await next();
      } finally {
        const ms = performance.now() - start;
        // the matched pattern (`/v1/contacts/:id`), never the raw path: ids would explode the series
        let route = routePath(c);
        if (!route || route === '/*' || route === '*') route = 'unmatched';
        this.observe(c.req.method, route, c.res.status, ms / 1000);
        // a response built from another fetch has immutable headers: the figure is then only in /metrics
        const spans = c.get('timings');
        let header = `app;dur=${ms.toFixed(3)}`;
        if (spans) for (const [name, d] of Object.entries(spans)) header += `, ${name};dur=${d.toFixed(3)}`;
        try {
          c.res.headers.set('server-timing', header);
        } catch {}
      }
    };
  }
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Awaits `work` and adds its duration to the request's `Server-Timing` as `name` (`db;dur=0.31`):
 * the client can tell the database's share of `app` from the rest.
 */
export async function timed<T>(c: Context<ServerEnv>, name: string, work: Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work;
  } finally {
    const spans = c.get('timings') ?? {};
    spans[name] = (spans[name] ?? 0) + performance.now() - start;
    c.set('timings', spans);
  }
}
