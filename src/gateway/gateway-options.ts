import type { Db } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import type { LimitsConfig } from '../limits/account-limits.ts';
import type { BackoffOptions } from '../limits/backoff.ts';
import type { Logger } from '../logger.ts';
import type { OperationServices, ProviderDefinition } from '../providers/define-provider.ts';

/** Options of the call gateway (src/gateway/create-gateway.ts), with their defaults. */
export const DAY_MS = 24 * 60 * 60 * 1000;

/** Time source and sleeper; injectable so tests need not wait for real back-offs. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  random: Math.random,
};

export interface GatewayOptions {
  db: Db;
  /** Provider definitions by id (injected: the gateway does not import the registry). */
  providers: (id: string) => ProviderDefinition | undefined;
  /** Environment for API keys and `SLUICE_<ID>_BASE_URL` (Config.env). Default `{}`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Base URL override per provider (config, sandbox). */
  baseUrl?: (providerId: string) => string | undefined;
  services?: OperationServices;
  /** Injected fetch (tests). Default: global fetch. */
  fetch?: typeof fetch;
  clock?: Clock;
  logger?: Logger;
  /** Longest wait slept inside a call (rate limit, Retry-After, concurrency slot); longer waits throw ThrottledError so the run is rescheduled. Default 5 000 ms. */
  maxWaitMs?: number;
  /** Daily spending cap per provider id, in USD (UTC days). Default none. */
  dailyCapsUsd?: Readonly<Record<string, number>>;
  // Without this option, each provider's cap comes from env `SLUICE_<ID>_DAILY_CAP_USD` (e.g.
  // SLUICE_HUNTER_DAILY_CAP_USD=5), so `.env` is enough to set one.
  /** Consecutive failures that open a provider's circuit. Default 5. */
  failureThreshold?: number;
  /** How long an open circuit stays open. Default 60 000 ms. */
  circuitCooldownMs?: number;
  /** How long a provider stays marked exhausted after a quota error. Default 1 h. */
  quotaCooldownMs?: number;
  /** Cache TTL for found results when the operation sets none. Default 30 days. */
  defaultCacheTtlMs?: number;
  /** Cache TTL for not-found results when the operation sets none. Default 7 days. */
  defaultNotFoundTtlMs?: number;
  /** Size cap of the cache (entries); the least recently hit are evicted. Default 100 000. */
  cacheMaxEntries?: number;
  /** Enforce the size cap after this many cache writes by this process. Default 1 000. */
  evictEvery?: number;
  /**
   * Lease of a call's in-flight marker and attempt row, renewed every third of it while the call runs:
   * they expire only when their owner stopped renewing (died, or cannot reach the database). Identical
   * calls of a crashed owner take over, and the reaper settles its attempts, after it. Default 30 000 ms.
   */
  inflightTtlMs?: number;
  /**
   * How long the record of a request that was made (the provider may have billed it) waits for an
   * unreachable database before giving up (src/gateway/record.ts). Default 60 000 ms.
   */
  databaseWaitMs?: number;
  /** Back-off between retries of retryable errors. Default base 250 ms, cap 5 000 ms. */
  backoff?: BackoffOptions;
  /**
   * Rate limits per account, replacing the definitions' (plans differ): key an account id (`hunter`,
   * `anthropic`, `http` for every host) or `<account>.<operation>` for an operation's own windows;
   * value a list or the written form `15/s,500/min`. Env `SLUICE_<ID>_LIMITS` is used when a key is
   * absent (src/limits/account-limits.ts).
   */
  limits?: LimitsConfig;
  /** Safety margin added to every rate-limit window (absorbs network jitter and late timers). Default 40 ms. */
  limitMarginMs?: number;
  /**
   * Called when a rate-limited call is about to be sent: `bookedAtMs` is where it is recorded (its
   * claim, or when it left if much later), local ms (bench: recorded place vs the provider's arrival).
   */
  onLimitedSend?: (e: { account: string; input: unknown; bookedAtMs: number; sentAtMs: number }) => void;
  /** Default attempts per call when the operation sets none. Default 4. */
  defaultMaxAttempts?: number;
}

/** `hunter` → `SLUICE_HUNTER_DAILY_CAP_USD`. */
export function dailyCapEnvVar(providerId: string): string {
  return `SLUICE_${providerId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DAILY_CAP_USD`;
}

export function dailyCapOf(
  providerId: string,
  caps: Readonly<Record<string, number>> | undefined,
  env: Readonly<Record<string, string | undefined>>,
): number | undefined {
  if (caps) return caps[providerId];
  const name = dailyCapEnvVar(providerId);
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const usd = Number(raw);
  if (!Number.isFinite(usd) || usd < 0) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not an amount in USD: use e.g. ${name}=5 or unset it`,
      {
        exitCode: 2,
      },
    );
  }
  return usd;
}
