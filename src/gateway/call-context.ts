import type { Preflight } from '../cache/preflight.ts';
import type { Db } from '../db/db.ts';
import type { Semaphore } from '../limits/concurrency.ts';
import type { DbClock, LimitWindow } from '../limits/sliding-window.ts';
import type { OperationDefinition, ProviderDefinition } from '../providers/define-provider.ts';
import type { Clock, GatewayOptions } from './gateway-options.ts';
import type { CallRequest } from './gateway-types.ts';
import type { LeaseKeeper } from './lease.ts';

/**
 * What the stages of one call share (docs/gateway.md "Stages"). Each stage reads what the stages
 * before it set and sets its own part; nothing else is passed between them.
 */

/** A provider operation resolved once per process: definition, limiter windows, semaphore, daily cap. */
export interface Target {
  provider: ProviderDefinition;
  operationId: string;
  op: OperationDefinition;
  /** `provider.operation`, for messages. */
  name: string;
  sem: Semaphore | undefined;
}

/** Where a call counts: the provider account's limiter windows, daily cap scopes, health key. */
export interface Account {
  /** The account whose limits the call counts against (`hunter`, `anthropic`, `perplexity`). */
  id: string;
  windows: LimitWindow[];
  /** Daily caps that apply, as [budget scope prefix id, cap USD, env var]. */
  dailyCaps: { id: string; usd: number; envVar: string }[];
  /** provider_state row of this call (circuit, pause, quota): the account, so `http:<host>` per host. */
  healthKey: string;
}

/** A provider's validated answer to one attempt. */
export interface CheckedResult {
  found: boolean;
  output: unknown;
  costUsd: number;
  confidence: number | undefined;
}

/** The answer of a call, shared with coalesced followers. */
export interface Answer {
  found: boolean;
  output: unknown;
  costUsd: number;
  confidence: number | undefined;
  cached: boolean;
}

/**
 * How a leader's call ended, for its in-process followers: its answer, or its error. `own` marks an
 * error that belongs to the leader alone (its batch's budget, its cancellation): a follower from
 * another batch does not inherit it but makes the call itself.
 */
export type LeaderOutcome = { answer: Answer } | { error: unknown; own: boolean };

/** What the call holds and must give back when it ends (released by the statement that settles it). */
export interface Hold {
  budgetScopes: string[];
  reservedUsd: number;
  slot: number | null;
  /** The call's cache_inflight marker is held (server Postgres only). */
  marker: boolean;
  /** The call's durable attempt row (call_attempts), written before any request; null when free. */
  attemptId: number | null;
  /** A terminal record was written: nothing is held any more. */
  settled: boolean;
}

/** Per-gateway state the stages use (one gateway = one owner). */
export interface GatewayState {
  db: Db;
  options: GatewayOptions;
  clock: Clock;
  env: Readonly<Record<string, string | undefined>>;
  owner: string;
  /** PGlite: one process per data dir, so markers and slot rows are skipped. */
  singleProcess: boolean;
  maxWaitMs: number;
  failureThreshold: number;
  cooldownMs: number;
  quotaCooldownMs: number;
  inflightTtlMs: number;
  marginMs: number;
  /** Provider/account id → local time until which a throttle pauses it. */
  pauses: Map<string, number>;
  /** Accounts this process has called once (cold first connection). */
  warm: Set<string>;
  /** Database clock − this process's clock: places booked on the database clock are slept until here. */
  dbClock: DbClock;
  stats: { rebooked: number };
  /** Renews this owner's markers and attempt rows while it has calls in flight (lease.ts). */
  lease: LeaseKeeper;
  /** In-process coalescing: cache key → how the leader's call ended. */
  inflight: Map<string, Promise<LeaderOutcome>>;
  /** Counts cache writes for the periodic eviction. */
  writesSinceEvict: { n: number };
}

export interface CallContext {
  readonly gw: GatewayState;
  readonly req: CallRequest;
  readonly signal: AbortSignal | undefined;
  /** clock.now() when the call began. */
  readonly started: number;
  readonly target: Target;
  readonly account: Account;
  /** Validated input, and its normalized form and key. */
  readonly input: unknown;
  readonly key: string;
  readonly normalized: unknown;
  /** Ledger label of a paid attempt. */
  readonly cacheLabel: 'miss' | 'refresh';
  /** What a call reserves in budgets: the real price of this input (0 for free providers). */
  readonly priceUsd: number;
  /** Set by the cache stage: health, budget and marker facts read in the same statement. */
  preflight?: Preflight;
  hold: Hold;
  /** HTTP attempt number, from 1; set by the retries stage. */
  attempt: number;
  /** A retryable failure happened before (so a success resets provider health). */
  failedBefore: boolean;
  /** Attempts allowed (the operation's maxAttempts, else the gateway default). */
  maxAttempts: number;
  /** Of the current attempt: HTTP status seen, latency of the request, its validated result. */
  httpStatus: number | null;
  latencyMs: number;
  /** The HTTP stage ran `run` in this attempt (a failure before it is not a provider failure). */
  requested: boolean;
  result?: CheckedResult;
  /** What a failed attempt was billed anyway (an answer that broke its schema after a paid response). */
  billedUsd: number;
  /** The answer, once known. */
  answer?: Answer;
  /** This call was answered by another identical call in flight. */
  coalesced: boolean;
}

/** A stage: does its part, calls `next()` for the rest of the order (or not), Hono-style. */
export type Stage = (ctx: CallContext, next: () => Promise<void>) => Promise<void>;
