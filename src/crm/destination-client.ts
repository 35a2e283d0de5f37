import type { Queryable } from '../db/db.ts';
import { ConfigError, RetryableError, ThrottledError } from '../errors.ts';
import { backoffDelay } from '../limits/backoff.ts';
import { Semaphore } from '../limits/concurrency.ts';
import { bookRate, limitWindows, sentRate } from '../limits/sliding-window.ts';
import type { HttpRequest, HttpResponse, ProviderDefinition } from '../providers/define-provider.ts';
import { createOperationContext } from '../providers/http.ts';
import type { DestinationClient, DestinationDefinition } from './define-destination.ts';
import { effectiveLimits } from './rate-override.ts';

/**
 * The HTTP side of a destination: the providers' one HTTP edge (src/providers/http.ts: base URL,
 * auth, timeouts, error mapping) plus the gateway's limiter (src/limits/), shared with every process
 * on the database. A throttle (429) is waited out as the CRM asks (Retry-After, reset headers) and
 * never counts as an attempt; idempotent requests are retried on transient errors, others are not
 * (the sync engine's outbox decides what to do about a create whose answer was lost).
 */
export interface ClientOptions {
  db: Queryable;
  env: Readonly<Record<string, string | undefined>>;
  /** Base URL override (sandbox, tests); wins over `SLUICE_<ID>_BASE_URL` and the default. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Give up on a request throttled for longer than this in total. Default 10 minutes. */
  maxThrottleWaitMs?: number;
  /** Attempts of an idempotent request on transient errors. Default 4. */
  maxAttempts?: number;
  /** Counts every request sent (benchmarks, `sync run` summary). */
  stats?: { requests: number; throttled: number };
  timeoutMs?: number;
}

/** Extra room on every limit window (the limiter's margin: network jitter must not trip the CRM). */
const MARGIN_MS = 40;
/** How much later places are recorded until this client has had an answer (a cold connection). */
const COLD_START_MS = 100;
const sems = new WeakMap<Queryable, Map<string, Semaphore>>();
const pauses = new Map<string, number>();

/** The token from the destination's env var, else a ConfigError naming it. */
export function destinationToken(def: DestinationDefinition, env: ClientOptions['env']): string {
  const token = env[def.auth.envVar]?.trim();
  const missing = [def.auth.envVar, ...(def.auth.extra ?? []).map((e) => e.envVar)].filter(
    (v) => !env[v]?.trim(),
  );
  if (!token || missing.length > 0) {
    throw new ConfigError(
      `${def.name} needs ${missing.join(' and ')} set (in the environment or .env); \`sluice sandbox start\` prints sandbox values`,
      { exitCode: 1 },
    );
  }
  return token;
}

export function createDestinationClient(
  def: DestinationDefinition,
  options: ClientOptions,
): DestinationClient {
  destinationToken(def, options.env);
  const shim: ProviderDefinition = {
    id: def.id,
    name: def.name,
    auth: { envVar: def.auth.envVar, required: true },
    baseUrl: def.baseUrl,
    applyAuth: (req, key) => def.applyAuth(req, key, options.env),
    limits: def.limits,
    concurrency: def.concurrency,
    mapError: def.mapError,
    operations: {},
  };
  const ctx = createOperationContext(shim, {
    env: options.env,
    baseUrl: options.baseUrl,
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
  });
  const limits = effectiveLimits(def.id, def.limits, options.env);
  const windows = {
    default: limitWindows(def.id, 'write', limits, undefined, MARGIN_MS),
    search: limitWindows(def.id, 'search', limits, def.searchLimits, MARGIN_MS),
  };
  const perDb = sems.get(options.db) ?? new Map<string, Semaphore>();
  sems.set(options.db, perDb);
  const semaphore = perDb.get(def.id) ?? new Semaphore(def.concurrency);
  perDb.set(def.id, semaphore);
  const maxThrottleWaitMs = options.maxThrottleWaitMs ?? 10 * 60_000;
  const maxAttempts = options.maxAttempts ?? 4;

  let answered = false;
  /**
   * Waits for a place. Returns how to turn a local time into the database clock the place is on
   * (an upper bound: the database's now at booking plus what passed locally since just before it).
   */
  async function takePlace(
    limit: 'default' | 'search',
  ): Promise<{ ids: string[]; dbAt(local: number): number }> {
    for (;;) {
      const paused = (pauses.get(def.id) ?? 0) - Date.now();
      if (paused > 0) await sleep(paused);
      const asked = Date.now();
      // before any answer, places are recorded a little later: a first request on a new
      // connection arrives late, and requests booked at the same time cannot wait for its answer
      const got = await bookRate(options.db, windows[limit], {
        maxWaitMs: 30_000,
        extraMs: answered ? 0 : COLD_START_MS,
      });
      if (got.granted) {
        if (got.waitMs > 0) await sleep(got.waitMs);
        return { ids: got.ids, dbAt: (local) => got.nowMs + (local - asked) };
      }
      await sleep(Math.min(got.waitMs, 30_000));
    }
  }

  async function request(
    req: HttpRequest & { acceptStatus?: number[] },
    opts: { limit?: 'search'; idempotent?: boolean } = {},
  ): Promise<HttpResponse> {
    let throttledMs = 0;
    let throttles = 0;
    for (let attempt = 1; ; ) {
      // The slot first, then the place: a place booked while waiting for a slot was often used late
      // (after another request's answer), and the request booked a window after it then arrived
      // within the same window of the CRM's count: a 429 and a 10 s pause (bench:sync).
      await semaphore.acquire();
      try {
        const place = await takePlace(opts.limit ?? 'default');
        if (options.stats) options.stats.requests++;
        try {
          return await ctx.request(req);
        } finally {
          // The answer is back, so the request reached the CRM by now: its place moves here. A
          // request queued behind others at the CRM (ten 100-row batches in flight) arrives well
          // after its place, and the one booked a window later would land in its window (a 429 and
          // HubSpot's 10 s pause, bench:sync).
          answered = true;
          await sentRate(options.db, [{ booking: place, atMs: place.dbAt(Date.now()) }]);
        }
      } catch (err) {
        if (err instanceof ThrottledError) {
          // The CRM said how long (or its reset header did); else back off from 1 s. Not an attempt.
          const wait = err.retryAfterMs ?? Math.min(30_000, 1_000 * 2 ** throttles);
          throttles++;
          throttledMs += wait;
          if (options.stats) options.stats.throttled++;
          if (throttledMs > maxThrottleWaitMs) throw err;
          pauses.set(def.id, Math.max(pauses.get(def.id) ?? 0, Date.now() + wait));
          continue;
        }
        if (err instanceof RetryableError && opts.idempotent && attempt < maxAttempts) {
          await sleep(backoffDelay(attempt));
          attempt++;
          continue;
        }
        throw err;
      } finally {
        semaphore.release();
      }
    }
  }

  return { request, env: options.env };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
