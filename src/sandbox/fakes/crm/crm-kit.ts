/**
 * Shared parts of the CRM fakes (ClickUp, HubSpot, GoHighLevel): rolling-window limits counted the
 * way the real APIs count (every request in the last window), webhook subscriptions and delivery with
 * each CRM's signature, and the counters tests and benchmarks read.
 */
export class RollingWindow {
  private readonly times: number[] = [];
  /** Most requests seen in any window (tests assert it never passes the limit). */
  maxSeen = 0;
  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts a request now; false (not counted) when the window is full. */
  take(now = Date.now()): { allowed: boolean; remaining: number; resetMs: number } {
    while (this.times.length && this.times[0]! <= now - this.windowMs) this.times.shift();
    if (this.times.length >= this.limit) {
      return { allowed: false, remaining: 0, resetMs: this.times[0]! + this.windowMs - now };
    }
    this.times.push(now);
    this.maxSeen = Math.max(this.maxSeen, this.times.length);
    return { allowed: true, remaining: this.limit - this.times.length, resetMs: this.windowMs };
  }
}

/** `POST /task/868fm5fyq/field/<uuid>` → `POST /task/:id/field/:id`: ids are segments with a digit. */
export function routeKey(method: string, url: string): string {
  const path = new URL(url).pathname
    .split('/')
    .map((seg) => (/\d/.test(seg) && !/^v\d+$/.test(seg) ? ':id' : seg));
  return `${method} ${path.join('/')}`;
}

export interface CrmFakeStats {
  requests: number;
  throttled: number;
  byRoute: Record<string, number>;
  /** Accepted requests' arrival times (ms since epoch), for benchmark figures. */
  arrivals: number[];
  webhooksSent: number;
}

export function newStats(): CrmFakeStats {
  return { requests: 0, throttled: 0, byRoute: {}, arrivals: [], webhooksSent: 0 };
}

export interface WebhookTarget {
  id: string;
  endpoint: string;
  secret: string;
  events: string[];
}

/**
 * Sends one webhook: POST of the exact bytes that were signed, headers from `sign`. Loopback only
 * (the sandbox never talks to the internet). Failures are counted, not retried here.
 */
export async function deliver(
  target: WebhookTarget,
  body: string,
  headers: Record<string, string>,
  stats: CrmFakeStats,
): Promise<number> {
  const url = new URL(target.endpoint);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') return 0;
  stats.webhooksSent++;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(7_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Short ids in a CRM's style (`868fm5fyq`), unique and deterministic per fake instance. */
export function idMaker(prefix = '', start = 17_000_000_000) {
  let n = 0;
  return () => `${prefix}${(start + ++n * 7_919).toString(36)}`;
}

/** Faults the CRM fakes can be told to produce, for tests of the outbox and batch splitting. */
export interface CrmFaults {
  /** The next N creates are applied, then answered with a 502 (the caller cannot know it worked). */
  loseCreateAnswers: number;
  /** Every request fails with this status (e.g. 503) while set. */
  failWith: number | undefined;
}

export const noFaults = (): CrmFaults => ({ loseCreateAnswers: 0, failWith: undefined });
