import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

/** Latency buckets in seconds (Prometheus histogram `le` bounds). */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface Series {
  counts: number[];
  sum: number;
  count: number;
}

/** HTTP request latency per route pattern, method and status, kept in memory for `/metrics`. */
export class HttpMetrics {
  private readonly series = new Map<string, Series>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method}\u0000${route}\u0000${status}`;
    let s = this.series.get(key);
    if (!s) {
      s = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.counts[i]! += 1;
    s.sum += seconds;
    s.count += 1;
  }

  /** Prometheus text lines of `sluice_http_request_duration_seconds`. */
  render(): string[] {
    const out = [
      '# HELP sluice_http_request_duration_seconds HTTP request latency by route',
      '# TYPE sluice_http_request_duration_seconds histogram',
    ];
    for (const [key, s] of this.series) {
      const [method, route, status] = key.split('\u0000');
      const labels = `method="${method}",route="${escapeLabel(route!)}",status="${status}"`;
      BUCKETS.forEach((b, i) => {
        out.push(`sluice_http_request_duration_seconds_bucket{${labels},le="${b}"} ${s.counts[i]}`);
      });
      out.push(`sluice_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${s.count}`);
      out.push(`sluice_http_request_duration_seconds_sum{${labels}} ${s.sum}`);
      out.push(`sluice_http_request_duration_seconds_count{${labels}} ${s.count}`);
    }
    return out;
  }

  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const start = performance.now();
      try {
        await next();
      } finally {
        // the matched pattern (`/v1/contacts/:id`), never the raw path: ids would explode the series
        let route = routePath(c);
        if (!route || route === '/*' || route === '*') route = 'unmatched';
        this.observe(c.req.method, route, c.res.status, (performance.now() - start) / 1000);
      }
    };
  }
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
