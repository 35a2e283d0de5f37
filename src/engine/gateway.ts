/**
 * The call gateway: the one function every paid call goes through (docs/gateway.md). Order:
 * validate → cache → coalescing (in-process promise map, and an in-flight marker row across
 * processes) → circuit/quota/pause checks → budget reservation → per attempt: concurrency slot →
 * global rate limit (GCRA) → HTTP → validation → one statement recording the attempt with its
 * cache entry, budget settlement and provider health. Longer than most files because it is the one
 * place where that order lives; the parts are in src/cache, src/limits and src/ledger.
 */
import { hostname } from 'node:os';
import { cacheKeyOf } from '../cache/cache-key.ts';
import { evictCache } from '../cache/cache-maintenance.ts';
import { type Preflight, preflight } from '../cache/preflight.ts';
import type { Db } from '../db/db.ts';
import {
  BudgetExceededError,
  CriticalError,
  InfrastructureError,
  isDatabaseUnavailable,
  NotFoundError,
  QuotaExhaustedError,
  SluiceError,
  ThrottledError,
} from '../errors.ts';
import { type AttemptRecord, recordAttempt } from '../ledger/record-attempt.ts';
import { backoffDelay } from '../limits/backoff.ts';
import { batchScope, dailyScope, ensureDailyCap, forgetDailyCaps, reserveBudget } from '../limits/budget.ts';
import { circuitState, claimProbe } from '../limits/circuit-breaker.ts';
import { hasConcurrencyCap, Semaphore, takeSlot } from '../limits/concurrency.ts';
import { type Acquired, acquireRate, type LimitWindow, limitWindows } from '../limits/gcra.ts';
import type {
  OperationDefinition,
  OperationResult,
  ProviderDefinition,
} from '../providers/define-provider.ts';
import { createOperationContext } from '../providers/http.ts';
import { DAY_MS, dailyCapEnvVar, dailyCapOf, type GatewayOptions, systemClock } from './gateway-options.ts';
import type { CallOutcome, CallRequest, Gateway } from './gateway-types.ts';

export { type Clock, DAY_MS, dailyCapEnvVar, type GatewayOptions, systemClock } from './gateway-options.ts';

/** What the leader of a coalesced group learned; followers get the same answer for free. */
interface Shared {
  found: boolean;
  output: unknown;
  costUsd: number;
  confidence: number | undefined;
  cached: boolean;
}

interface Resolved {
  provider: ProviderDefinition;
  operationId: string;
  op: OperationDefinition;
  windows: LimitWindow[];
  sem: Semaphore | undefined;
  dailyCapUsd: number | undefined;
}

export interface GatewayImpl extends Gateway {
  /** Unique id of this gateway instance in markers and slots (host:pid:random). */
  readonly owner: string;
  /** Rate-limit places given up because the timer woke too late (a sign of an overloaded process). */
  readonly stats: { rebooked: number };
}

export function createGateway(options: GatewayOptions): GatewayImpl {
  const db = options.db;
  const clock = options.clock ?? systemClock;
  const env = options.env ?? {};
  const maxWaitMs = options.maxWaitMs ?? 5_000;
  const failureThreshold = options.failureThreshold ?? 5;
  const cooldownMs = options.circuitCooldownMs ?? 60_000;
  const quotaCooldownMs = options.quotaCooldownMs ?? 60 * 60 * 1000;
  const inflightTtlMs = options.inflightTtlMs ?? 120_000;
  const evictEvery = options.evictEvery ?? 1_000;
  const marginMs = options.limitMarginMs ?? 40;
  const coldStartMs = options.coldStartMs ?? 100;
  const warm = new Set<string>();
  const stats = { rebooked: 0 };
  const owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
  // Gateways on the same Db object share in-flight calls and semaphores: they are one process.
  const { inflight, sems } = processState(db);
  /** Provider id → local time until which a throttle this gateway saw or learned pauses it. */
  const pauses = new Map<string, number>();
  // PGlite allows one process per data directory (lock file), so in-process coalescing and
  // semaphores already cover every caller: the in-flight marker rows and slot rows are skipped.
  const singleProcess = db.backend === 'pglite';
  const resolvedCache = new Map<string, Resolved>();
  let writesSinceEvict = 0;

  function resolve(req: CallRequest): Resolved {
    const id = `${req.provider}\u0000${req.operation}`;
    const known = resolvedCache.get(id);
    if (known) return known;
    const provider = options.providers(req.provider);
    if (!provider) throw new CriticalError(`unknown provider "${req.provider}": check the pipeline's step`);
    const op = provider.operations[req.operation];
    if (!op) {
      throw new CriticalError(
        `provider "${req.provider}" has no operation "${req.operation}" (it has: ${Object.keys(provider.operations).join(', ')})`,
      );
    }
    const windows = limitWindows(provider.id, req.operation, provider.limits, op.limits, marginMs);
    const sem = hasConcurrencyCap(provider.concurrency) ? semaphores(provider) : undefined;
    const dailyCapUsd = dailyCapOf(provider.id, options.dailyCapsUsd, env);
    const r: Resolved = { provider, operationId: req.operation, op, windows, sem, dailyCapUsd };
    resolvedCache.set(id, r);
    return r;
  }

  function semaphores(provider: ProviderDefinition): Semaphore {
    const id = `${provider.id}:${provider.concurrency}`;
    let s = sems.get(id);
    if (!s) {
      s = new Semaphore(provider.concurrency);
      sems.set(id, s);
    }
    return s;
  }

  function validateInput(r: Resolved, input: unknown): unknown {
    const parsed = r.op.input.safeParse(input);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'input';
    throw new CriticalError(
      `invalid input for ${r.provider.id}.${r.operationId}: field "${field}" ${issue?.message ?? 'is invalid'} (got ${JSON.stringify(input)?.slice(0, 200)}); fix the record or the step's input mapping`,
      { cause: parsed.error },
    );
  }

  async function call(req: CallRequest, signal?: AbortSignal): Promise<CallOutcome> {
    const started = clock.now();
    const r = resolve(req);
    const input = validateInput(r, req.input);
    const keyInput = r.op.cacheKey ? r.op.cacheKey(input) : input;
    const { key, normalized } = cacheKeyOf(r.provider.id, r.operationId, keyInput);

    const pending = inflight.get(key);
    if (pending) {
      const shared = await pending;
      await recordAttempt(db, {
        ...base(r, req, key),
        ledger: {
          attempt: 0,
          cache: 'coalesced',
          status: shared.found ? 'found' : 'not_found',
          httpStatus: null,
          costUsd: 0,
          savedUsd: shared.costUsd,
          latencyMs: clock.now() - started,
          errorClass: null,
          error: null,
        },
        terminal: false,
        health: 'none',
        durable: false,
      });
      return outcome(r, shared, started, { coalesced: true, costUsd: 0 });
    }
    const mine = lead(r, req, key, normalized, input, signal);
    inflight.set(key, mine);
    try {
      const shared = await mine;
      return outcome(r, shared, started, {
        coalesced: false,
        costUsd: shared.cached ? 0 : shared.costUsd,
      });
    } finally {
      inflight.delete(key);
    }
  }

  function outcome(
    r: Resolved,
    s: Shared,
    started: number,
    extra: { coalesced: boolean; costUsd: number },
  ): CallOutcome {
    return {
      provider: r.provider.id,
      operation: r.operationId,
      found: s.found,
      output: s.found ? s.output : null,
      costUsd: extra.costUsd,
      savedUsd: s.cached || extra.coalesced ? s.costUsd : 0,
      confidence: s.confidence,
      cached: s.cached,
      coalesced: extra.coalesced,
      latencyMs: clock.now() - started,
    };
  }

  /** Fields every attempt record of this call shares. */
  function base(r: Resolved, req: CallRequest, key: string) {
    return {
      provider: r.provider.id,
      operation: r.operationId,
      runId: req.runId ?? null,
      batchId: req.batchId ?? null,
      cacheKey: key,
      owner,
      marker: !singleProcess,
      budgetScopes: [] as string[],
      reservedUsd: 0,
      slot: null as number | null,
      failureThreshold,
      cooldownMs,
    };
  }

  /** Cache lookup and, on a miss, either make the call or wait for whoever is making it. */
  async function lead(
    r: Resolved,
    req: CallRequest,
    key: string,
    normalized: unknown,
    input: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Shared> {
    let hitLabel: 'hit' | 'coalesced' = 'hit';
    let freshAfterMs: number | null = null;
    let pollMs = 20;
    for (;;) {
      const pf = await preflight(db, {
        key,
        provider: r.provider.id,
        operation: r.operationId,
        refresh: (req.refresh ?? false) && hitLabel === 'hit',
        owner,
        inflightTtlMs,
        claim: !singleProcess,
        runId: req.runId ?? null,
        batchId: req.batchId ?? null,
        hitLabel,
        freshAfterMs,
        batchScope: req.batchId === undefined ? null : batchScope(req.batchId),
        reserveUsd: priceOf(r),
      });
      if (pf.hit) {
        return { ...pf.hit, confidence: pf.hit.confidence ?? undefined, cached: true };
      }
      if (pf.leader) return makeCall(r, req, key, normalized, input, pf, signal);
      // Another process is making this exact call: wait for its cache entry (or its marker to go).
      if (hitLabel === 'hit') {
        hitLabel = 'coalesced';
        if (req.refresh) freshAfterMs = pf.nowMs - 1_000;
      }
      await clock.sleep(pollMs, signal);
      pollMs = Math.min(250, pollMs * 2);
    }
  }

  async function makeCall(
    r: Resolved,
    req: CallRequest,
    key: string,
    normalized: unknown,
    input: unknown,
    pf: Preflight,
    signal: AbortSignal | undefined,
  ): Promise<Shared> {
    const b = base(r, req, key);
    let settled = false;
    const record = async (rec: AttemptRecord) => {
      const done = await recordAttempt(db, rec);
      if (rec.terminal) settled = true;
      // The slot went back with this record; never release it twice (it may be someone else's by then).
      if (rec.slot !== null) b.slot = null;
      return done;
    };
    try {
      return await attempts();
    } catch (err) {
      // Whatever went wrong before the call was recorded (a database error, an abort): release the
      // marker and the budget reservation so identical calls and the batch are not held up.
      if (!settled) await recordAttempt(db, { ...b, terminal: true, health: 'none' }).catch(() => {});
      throw err;
    }

    async function attempts(): Promise<Shared> {
      const cacheLabel = req.refresh ? 'refresh' : 'miss';
      const price = priceOf(r);
      // The preflight reserved the price in the batch's budget, or refused to (nothing reserved).
      if (pf.batchLimitUsd !== null && req.batchId !== undefined) {
        b.budgetScopes.push(batchScope(req.batchId));
        if (pf.batchReserved) b.reservedUsd = price;
      }
      const name = `${r.provider.id}.${r.operationId}`;
      /** Ends the call without a request: ledger row "refused", marker and reservation released. */
      const refuse = async (err: SluiceError): Promise<never> => {
        await record({
          ...b,
          ledger: {
            attempt: 0,
            cache: cacheLabel,
            status: 'refused',
            httpStatus: null,
            costUsd: 0,
            latencyMs: 0,
            errorClass: err.errorClass,
            error: err.message,
          },
          terminal: true,
          health: 'none',
        });
        throw err;
      };

      if (pf.batchLimitUsd !== null && price > 0 && !pf.batchReserved) {
        await refuse(
          new BudgetExceededError(
            `${name} would exceed the budget of $${pf.batchLimitUsd.toFixed(2)} for batch ${req.batchId}: $${pf.batchSpentUsd.toFixed(4)} spent, $${pf.batchReservedUsd.toFixed(4)} reserved, this call costs up to $${price.toFixed(4)}. Raise the budget to continue`,
          ),
        );
      }
      // Provider health, read in the preflight from the shared database clock.
      if (pf.exhaustedUntilMs !== null && pf.exhaustedUntilMs > pf.nowMs) {
        await refuse(
          new QuotaExhaustedError(
            `${r.provider.id}: credits or plan quota used up; calls stopped until ${new Date(pf.exhaustedUntilMs).toISOString()}. Top up the plan, then run again`,
          ),
        );
      }
      const state = circuitState(pf.openUntilMs, pf.nowMs);
      if (state !== 'closed') {
        const probing = state === 'half-open' && (await claimProbe(db, r.provider.id, cooldownMs));
        if (!probing) {
          const retryAt = new Date(
            Math.max(pf.openUntilMs ?? 0, pf.nowMs + 1_000) + (clock.now() - pf.nowMs),
          );
          await refuse(
            new InfrastructureError(
              `${r.provider.id} is failing (circuit open after ${pf.failures} consecutive failures); calls deferred until ${retryAt.toISOString()}`,
              { retryAt },
            ),
          );
        }
      }
      if (pf.pausedUntilMs !== null && pf.pausedUntilMs > pf.nowMs) {
        const wait = pf.pausedUntilMs - pf.nowMs;
        if (wait > maxWaitMs) {
          await refuse(
            new ThrottledError(
              `${r.provider.id} asked to slow down; next call in ${Math.ceil(wait / 1000)} s`,
              {
                retryAfterMs: wait,
              },
            ),
          );
        }
        await clock.sleep(wait, signal);
      }

      // Budget, daily cap (the batch's was reserved by the preflight, see above).
      const cap = r.dailyCapUsd;
      if (cap !== undefined) {
        const scope = dailyScope(r.provider.id, pf.nowMs);
        await ensureDailyCap(db, scope, cap);
        let over = await reserveBudget(db, [scope], price);
        if (over === 'missing') {
          // The row was deleted under us (e.g. by hand): recreate it, a cap is never silently skipped.
          forgetDailyCaps(db);
          await ensureDailyCap(db, scope, cap);
          over = await reserveBudget(db, [scope], price);
        }
        if (over && over !== 'missing') {
          await refuse(
            new BudgetExceededError(
              `${name} would exceed the daily cap of $${over.limitUsd.toFixed(2)} for ${r.provider.id}: $${over.spentUsd.toFixed(4)} spent today, $${over.reservedUsd.toFixed(4)} reserved, this call costs up to $${price.toFixed(4)}. Raise ${dailyCapEnvVar(r.provider.id)} or wait until tomorrow (UTC)`,
            ),
          );
        }
        if (over !== 'missing') b.budgetScopes.push(scope);
        if (price > 0) b.reservedUsd = price;
      }

      const maxAttempts = Math.max(1, r.op.maxAttempts ?? options.defaultMaxAttempts ?? 4);
      let failedBefore = false;
      for (let attempt = 1; ; attempt++) {
        b.slot = null;
        const release = await takeConcurrency(r, b, refuse);
        let res: OperationResult<unknown> | undefined;
        let error: unknown;
        let httpStatus: number | null = null;
        const rate = await takeRate(r, signal).catch(async (err: unknown) => {
          release();
          if (signal?.aborted) await record({ ...b, terminal: true, health: 'none' });
          throw err;
        });
        if (!rate.granted) {
          release();
          await refuse(
            new ThrottledError(
              `${name}: the next call is ${Math.ceil(rate.waitMs / 1000)} s away (rate limit, or the provider asked to slow down); the run is rescheduled`,
              { retryAfterMs: rate.waitMs },
            ),
          );
        }
        const t0 = clock.now();
        try {
          const doFetch = options.fetch ?? fetch;
          const ctx = createOperationContext(r.provider, {
            env,
            baseUrl: options.baseUrl?.(r.provider.id),
            signal,
            timeoutMs: r.op.timeoutMs,
            services: options.services,
            fetch: async (url, init) => {
              const response = await doFetch(url, init);
              httpStatus = response.status;
              return response;
            },
          });
          res = await r.op.run(ctx, input);
        } catch (err) {
          error = err;
        }
        release();
        const latencyMs = clock.now() - t0;
        if (signal?.aborted) {
          await record({ ...b, terminal: true, health: 'none' });
          throw signal.reason;
        }
        if (error instanceof NotFoundError) res = { found: false, costUsd: 0 };
        if (res) {
          const checked = checkResult(r, res);
          if (checked instanceof CriticalError) {
            await record({
              ...b,
              ledger: ledgerError(attempt, cacheLabel, httpStatus, res.costUsd, latencyMs, checked),
              terminal: true,
              health: 'none',
            });
            throw checked;
          }
          const ttlMs = checked.found
            ? (r.op.cacheTtlMs ?? options.defaultCacheTtlMs ?? 30 * DAY_MS)
            : (r.op.notFoundTtlMs ?? options.defaultNotFoundTtlMs ?? 7 * DAY_MS);
          await record({
            ...b,
            ledger: {
              attempt,
              cache: cacheLabel,
              status: checked.found ? 'found' : 'not_found',
              httpStatus,
              costUsd: checked.costUsd,
              latencyMs,
              errorClass: null,
              error: null,
            },
            cacheWrite: {
              input: normalized,
              found: checked.found,
              output: checked.output,
              costUsd: checked.costUsd,
              confidence: checked.confidence ?? null,
              ttlMs,
            },
            terminal: true,
            // Only touch provider_state when there is something to close (keeps the hot path lean).
            health: pf.failures > 0 || pf.openUntilMs !== null || failedBefore ? 'reset' : 'none',
          });
          if (ttlMs > 0 && ++writesSinceEvict >= evictEvery) {
            writesSinceEvict = 0;
            await evictCache(db, options.cacheMaxEntries ?? 100_000).catch((err: unknown) =>
              options.logger?.warn({ err }, 'cache eviction failed'),
            );
          }
          return { ...checked, cached: false };
        }

        const err = asSluiceError(error, name);
        const last = attempt >= maxAttempts;
        if (err instanceof ThrottledError) {
          // No Retry-After (Hunter sends none): pause 1 s, doubling with each throttle of this call.
          const delay = err.retryAfterMs ?? Math.min(maxWaitMs, 1_000 * 2 ** (attempt - 1));
          const giveUp = last || delay > maxWaitMs;
          pauses.set(r.provider.id, Math.max(pauses.get(r.provider.id) ?? 0, clock.now() + delay));
          await record({
            ...b,
            ledger: ledgerError(attempt, cacheLabel, httpStatus, 0, latencyMs, err),
            terminal: giveUp,
            health: 'pause',
            delayMs: delay,
            limiterKeys: r.windows.map((w) => w.key),
          });
          options.logger?.warn({ provider: r.provider.id, delayMs: delay }, `${name} throttled`);
          if (giveUp) throw new ThrottledError(err.message, { retryAfterMs: delay, cause: err });
          await clock.sleep(delay, signal);
          continue;
        }
        if (err.errorClass === 'retryable') {
          failedBefore = true;
          const rec = await record({
            ...b,
            ledger: ledgerError(attempt, cacheLabel, httpStatus, 0, latencyMs, err),
            terminal: last,
            health: 'fail',
          });
          if (last) throw err;
          if (rec.openUntilMs !== null && rec.openUntilMs > rec.nowMs) {
            await record({ ...b, terminal: true, health: 'none' });
            const retryAt = new Date(rec.openUntilMs + (clock.now() - rec.nowMs));
            throw new InfrastructureError(
              `${r.provider.id} is failing (circuit opened after ${failureThreshold} consecutive failures, last: ${err.message}); calls deferred until ${retryAt.toISOString()}`,
              { retryAt, cause: err },
            );
          }
          await clock.sleep(backoffDelay(attempt, options.backoff, clock.random), signal);
          continue;
        }
        await record({
          ...b,
          ledger: ledgerError(attempt, cacheLabel, httpStatus, 0, latencyMs, err),
          terminal: true,
          health: err instanceof QuotaExhaustedError ? 'exhausted' : 'none',
          delayMs: quotaCooldownMs,
        });
        throw err;
      }
    }
  }

  /**
   * Books this call's place in every limit window and sleeps until it. A place missed by more than
   * half the margin (a late timer, a starved CPU) is given up and booked again: calls only go out
   * close to their booked time, so they never bunch up past a limit.
   */
  async function takeRate(r: Resolved, signal: AbortSignal | undefined): Promise<Acquired> {
    for (let tries = 0; ; tries++) {
      // Calls that passed the preflight before a throttle came back wait for the pause too.
      const paused = (pauses.get(r.provider.id) ?? 0) - clock.now();
      if (paused > maxWaitMs) return { granted: false, waitMs: paused };
      if (paused > 0) await clock.sleep(paused, signal);
      // A process's first call to a provider opens a connection (TCP, TLS) and runs cold code, so it
      // can leave much later than booked; the next call is booked a little further out.
      const cold = r.windows.length > 0 && !warm.has(r.provider.id);
      if (cold) warm.add(r.provider.id);
      const rate = await acquireRate(db, r.windows, maxWaitMs, cold ? coldStartMs : 0);
      if (!rate.granted || r.windows.length === 0) return rate;
      const target = clock.now() + rate.waitMs;
      if (rate.waitMs > 0) await clock.sleep(rate.waitMs, signal);
      // Another caller may have been throttled while this call slept: one small read.
      await learnPause(r.provider.id);
      const pausedMeanwhile = (pauses.get(r.provider.id) ?? 0) > clock.now();
      if (!pausedMeanwhile && (clock.now() - target <= marginMs / 2 || tries >= 5)) return rate;
      stats.rebooked++;
    }
  }

  /** Copies a pause another process recorded in provider_state into this process's `pauses`. */
  async function learnPause(providerId: string): Promise<void> {
    const res = await db.query<{ ms: number | null }>(
      `SELECT extract(epoch FROM paused_until - clock_timestamp())::float8 * 1000 AS ms
       FROM provider_state WHERE provider = $1 AND paused_until > clock_timestamp()`,
      [providerId],
    );
    const ms = res.rows[0]?.ms;
    if (ms) pauses.set(providerId, Math.max(pauses.get(providerId) ?? 0, clock.now() + ms));
  }

  /** Takes this provider's in-process semaphore and a database slot; returns the release function. */
  async function takeConcurrency(
    r: Resolved,
    b: ReturnType<typeof base>,
    refuse: (err: SluiceError) => Promise<never>,
  ): Promise<() => void> {
    if (!r.sem) return () => {};
    await r.sem.acquire();
    let released = false;
    const release = () => {
      if (!released) r.sem?.release();
      released = true;
    };
    if (singleProcess) return release;
    const ttl = (r.op.timeoutMs ?? 30_000) + 30_000;
    const deadline = clock.now() + maxWaitMs;
    let pause = 10;
    for (;;) {
      const slot = await takeSlot(db, r.provider.id, r.provider.concurrency, owner, ttl);
      if (slot !== undefined) {
        b.slot = slot;
        return release;
      }
      if (clock.now() + pause > deadline) {
        release();
        return refuse(
          new ThrottledError(
            `${r.provider.id}: all ${r.provider.concurrency} concurrent call slots are busy; the run is rescheduled`,
            { retryAfterMs: 1_000 },
          ),
        );
      }
      await clock.sleep(pause);
      pause = Math.min(200, pause * 2);
    }
  }

  return { call, owner, stats };
}

const processStates = new WeakMap<
  Db,
  { inflight: Map<string, Promise<Shared>>; sems: Map<string, Semaphore> }
>();

function processState(db: Db) {
  let state = processStates.get(db);
  if (!state) {
    state = { inflight: new Map(), sems: new Map() };
    processStates.set(db, state);
  }
  return state;
}

/** What a call reserves in budgets: the declared price (free providers cost nothing). */
function priceOf(r: Resolved): number {
  return r.provider.free ? 0 : r.op.priceUsd;
}

/** Validates the operation's result; a bad one is a CriticalError for this call only. */
function checkResult(
  r: Resolved,
  res: OperationResult<unknown>,
): { found: boolean; output: unknown; costUsd: number; confidence: number | undefined } | CriticalError {
  const cost = Number.isFinite(res.costUsd) && res.costUsd >= 0 ? res.costUsd : 0;
  if (!res.found) return { found: false, output: null, costUsd: cost, confidence: undefined };
  const parsed = r.op.output.safeParse(res.output);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return new CriticalError(
      `${r.provider.id}.${r.operationId} returned an output that does not match its schema (field "${issue?.path.join('.') || 'output'}": ${issue?.message}); the call is not cached`,
      { cause: parsed.error },
    );
  }
  return { found: true, output: parsed.data, costUsd: cost, confidence: res.confidence };
}

function asSluiceError(err: unknown, name: string): SluiceError {
  if (err instanceof SluiceError) return err;
  // An operation reading Sluice's own database (services.db) while it is down: defer, never critical.
  if (isDatabaseUnavailable(err))
    return new InfrastructureError(`${name}: database unavailable`, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new CriticalError(`${name} failed unexpectedly: ${message}`, { cause: err });
}

function ledgerError(
  attempt: number,
  cache: 'miss' | 'refresh',
  httpStatus: number | null,
  costUsd: number,
  latencyMs: number,
  err: SluiceError,
): NonNullable<AttemptRecord['ledger']> {
  return {
    attempt,
    cache,
    status: 'error',
    httpStatus,
    costUsd,
    latencyMs,
    errorClass: err.errorClass,
    error: err.message.slice(0, 1_000),
  };
}
