/**
 * The call gateway: the one function every paid call goes through (docs/gateway.md). Its order is the
 * list of stages below, composed like Hono middlewares (compose.ts); each stage is one file in
 * src/gateway/stages/ with its own job, and they share one CallContext (call-context.ts).
 */
import { hostname } from 'node:os';
import { operationCacheKey } from '../cache/cache-key.ts';
import type { Db } from '../db/db.ts';
import type { Semaphore } from '../limits/concurrency.ts';
import { DbClock } from '../limits/sliding-window.ts';
import { registerSecretsFromEnv } from '../secrets/redact.ts';
import type { CallContext, GatewayState, LeaderOutcome, Stage } from './call-context.ts';
import { compose } from './compose.ts';
import { type GatewayOptions, systemClock } from './gateway-options.ts';
import type { CallOutcome, CallRequest, Gateway } from './gateway-types.ts';
import { leaseKeeper } from './lease.ts';
import { reservationOf } from './price.ts';
import { targetResolver, validateInput } from './resolve-target.ts';
import { budget } from './stages/budget.ts';
import { cache } from './stages/cache.ts';
import { concurrency } from './stages/concurrency.ts';
import { health } from './stages/health.ts';
import { http } from './stages/http.ts';
import { ledger } from './stages/ledger.ts';
import { localCoalescing } from './stages/local-coalescing.ts';
import { rateLimit } from './stages/rate-limit.ts';
import { releaseOnFailure } from './stages/release-on-failure.ts';
import { retries } from './stages/retries.ts';

/** The order of a call. Stages after `retries` run once per attempt. */
export const STAGES: readonly Stage[] = [
  localCoalescing,
  cache,
  releaseOnFailure,
  health,
  budget,
  retries,
  ledger,
  concurrency,
  rateLimit,
  http,
];

export interface GatewayImpl extends Gateway {
  /** Unique id of this gateway instance in markers and slots (host:pid:random). */
  readonly owner: string;
  /** Rate-limit places given up because their claim would have waited more than `maxWaitMs`. */
  readonly stats: { rebooked: number };
  /** Heartbeat of this gateway's in-flight markers and attempt rows (lease.ts). */
  readonly lease: { readonly renewals: number };
}

export function createGateway(options: GatewayOptions, stages: readonly Stage[] = STAGES): GatewayImpl {
  const db = options.db;
  // Keys in the gateway's environment are scrubbed from every message, row and log line.
  registerSecretsFromEnv(options.env ?? {});
  // Gateways on the same Db object share in-flight calls and semaphores: they are one process.
  const shared = processState(db);
  const owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
  const inflightTtlMs = options.inflightTtlMs ?? 30_000;
  const gw: GatewayState = {
    db,
    options,
    clock: options.clock ?? systemClock,
    env: options.env ?? {},
    owner,
    // PGlite allows one process per data directory (lock file), so in-process coalescing and
    // semaphores already cover every caller: the in-flight marker rows and slot rows are skipped.
    singleProcess: db.backend === 'pglite',
    maxWaitMs: options.maxWaitMs ?? 5_000,
    failureThreshold: options.failureThreshold ?? 5,
    cooldownMs: options.circuitCooldownMs ?? 60_000,
    quotaCooldownMs: options.quotaCooldownMs ?? 60 * 60 * 1000,
    inflightTtlMs,
    marginMs: options.limitMarginMs ?? 40,
    pauses: new Map(),
    warm: new Set(),
    dbClock: new DbClock(db, () => (options.clock ?? systemClock).now()),
    stats: { rebooked: 0 },
    lease: leaseKeeper(db, owner, inflightTtlMs, options.logger, db.backend !== 'pglite'),
    inflight: shared.inflight,
    writesSinceEvict: { n: 0 },
  };
  const resolve = targetResolver(gw, shared.sems);
  const run = compose(stages);

  async function call(req: CallRequest, signal?: AbortSignal): Promise<CallOutcome> {
    const started = gw.clock.now();
    const target = resolve.target(req);
    const input = validateInput(target, req.input);
    const account = resolve.account(target, input);
    const { key, normalized } = operationCacheKey(target.provider.id, target.operationId, target.op, input);
    const ctx: CallContext = {
      gw,
      req,
      signal,
      started,
      target,
      account,
      input,
      key,
      normalized,
      cacheLabel: req.refresh ? 'refresh' : 'miss',
      priceUsd: reservationOf(target, input, gw.env),
      hold: {
        budgetScopes: [],
        reservedUsd: 0,
        slot: null,
        marker: false,
        attemptId: null,
        settled: false,
      },
      attempt: 0,
      maxAttempts: 1,
      failedBefore: false,
      httpStatus: null,
      latencyMs: 0,
      requested: false,
      billedUsd: 0,
      coalesced: false,
    };
    await run(ctx);
    const a = ctx.answer;
    if (!a) throw new Error(`gateway: ${target.name} ended without an answer`);
    const free = a.cached || ctx.coalesced;
    return {
      provider: target.provider.id,
      operation: target.operationId,
      found: a.found,
      output: a.found ? a.output : null,
      costUsd: free ? 0 : a.costUsd,
      savedUsd: free ? a.costUsd : 0,
      confidence: a.confidence,
      cached: a.cached,
      coalesced: ctx.coalesced,
      latencyMs: gw.clock.now() - started,
    };
  }

  return { call, owner: gw.owner, stats: gw.stats, lease: gw.lease };
}

const processStates = new WeakMap<
  Db,
  { inflight: Map<string, Promise<LeaderOutcome>>; sems: Map<string, Semaphore> }
>();

function processState(db: Db) {
  let state = processStates.get(db);
  if (!state) {
    state = { inflight: new Map(), sems: new Map() };
    processStates.set(db, state);
  }
  return state;
}
