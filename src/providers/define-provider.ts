import type { z } from 'zod';
import type { SluiceError } from '../errors.ts';

/**
 * One definition object per provider (see docs/providers.md). Types of an operation's input and
 * output are inferred from its zod schemas. Definitions are registered explicitly in registry.ts.
 */

/** A rate limit as providers state it: at most `limit` calls in any `windowMs` (a sliding window). */
export interface RateLimitSpec {
  limit: number;
  windowMs: number;
  /** Label for messages and the limiter key, e.g. "15/s". */
  label?: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path relative to the provider's base URL, or an absolute URL (Jina takes the target URL in the path). */
  path: string;
  query?: Record<string, string | number | boolean | undefined | null | readonly string[]>;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs?: number;
  /**
   * `json` (default): a 2xx body that is not valid JSON is a RetryableError for this call (retried like a 5xx).
   * `text`: the body is returned as text (web pages); JSON is still parsed when it looks like JSON.
   */
  responseType?: 'json' | 'text';
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else the text. */
  body: unknown;
  text: string;
}

/** What an operation's `run` gets: an HTTP client bound to the provider (base URL, auth, timeout). */
export interface OperationContext {
  /**
   * Sends one request. Non-2xx responses are mapped to Sluice errors by the provider's `mapError`
   * (or the default mapping) before `run` sees them, so `run` handles success bodies only, unless
   * `acceptStatus` lists the status (e.g. Hunter 202).
   */
  request(req: HttpRequest & { acceptStatus?: number[] }): Promise<HttpResponse>;
  /** The API key from the provider's env var, when it has one. */
  apiKey: string | undefined;
  baseUrl: string;
  signal: AbortSignal;
  /** Per-request timeout the context applies; SDK-based operations (llm) apply it themselves. */
  timeoutMs?: number;
  /**
   * Provider settings from the environment (Config.env), e.g. `SLUICE_HUNTER_USD_PER_CREDIT`.
   * Optional so hand-built contexts in tests need not set it; read it through `providerSetting()`.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Extra services some operations need (the LLM model factory, the email-pattern store). */
  services: OperationServices;
}

export interface OperationServices {
  /** Set by the engine for operations that read Sluice's own data (pattern inference). */
  db?: import('../db/db.ts').Queryable;
  /** AI SDK language model factory, for `ai` operations (real providers or the sandbox LLM). */
  languageModel?: (modelId: string) => import('@ai-sdk/provider').LanguageModelV3;
  /**
   * Widens the outbound edge for URLs from data (website, http step): only the sandbox sets
   * `{ allowLoopback: true }` for its local fakes; tests may inject a resolver. Default: nothing.
   */
  outbound?: import('../net/safe-fetch.ts').OutboundPolicy;
}

export type OperationResult<O> =
  | {
      found: true;
      output: O;
      /** What this call cost in USD (after the provider's own rules: free when nothing found…). */
      costUsd: number;
      /** 0..1 */
      confidence?: number;
    }
  | { found: false; costUsd: number };

export interface OperationDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  description: string;
  input: I;
  output: O;
  /** Price of one call that finds something, in USD, for forecasts (the result's costUsd is what is charged). */
  priceUsd: number;
  /**
   * The most one call with this input can cost, in USD, at the prices in `env` (plan overrides such
   * as `SLUICE_HUNTER_USD_PER_CREDIT`, an LLM's max tokens × the model's price): what budgets reserve
   * before the call. Default `priceUsd`.
   */
  maxPriceUsd?: (input: z.infer<I>, env: Readonly<Record<string, string | undefined>>) => number;
  /** Cache TTL for found results. Default 30 days. */
  cacheTtlMs?: number;
  /** Cache TTL for not-found results. Default 7 days. */
  notFoundTtlMs?: number;
  /** Rate limits of this operation, on top of the provider-wide ones. */
  limits?: RateLimitSpec[];
  /** Attempts before giving up on retryable errors. Default 4. */
  maxAttempts?: number;
  timeoutMs?: number;
  /**
   * The part of the input that identifies the lookup (cache and coalescing key). Default: the whole
   * input. Leave out what must never be stored (headers, secrets): the key input is stored in
   * `cache_entries.input`.
   */
  cacheKey?: (input: z.infer<I>) => unknown;
  /**
   * Fields of the key input the API treats as case-insensitive (`domain`, `email`, dotted for nested
   * ones: `known.email`; `''` for a bare-string key): trimmed and lowercased in the key. Every other
   * string (URLs, bodies, prompts, names) is keyed exactly as sent (src/cache/cache-key.ts).
   */
  caseInsensitive?: readonly string[];
  run(ctx: OperationContext, input: z.infer<I>): Promise<OperationResult<z.infer<O>>>;
}

export interface ProviderDefinition {
  /** Lowercase id used everywhere: config, ledger, pipelines (`hunter`). */
  id: string;
  name: string;
  /** Env var holding the key (e.g. HUNTER_API_KEY); `required: false` for providers usable without one (Jina). */
  auth?: { envVar: string; required: boolean };
  /** Default base URL; overridable by env `SLUICE_<ID>_BASE_URL` and config. */
  baseUrl: string;
  /** How the key is sent. */
  applyAuth?: (req: HttpRequest, apiKey: string) => HttpRequest;
  /**
   * Limits of the provider's account, shared by every operation the provider counts together
   * (several windows at once, e.g. 15/s + 500/min). Overridable per plan by `SLUICE_<ID>_LIMITS`.
   */
  limits: RateLimitSpec[];
  /**
   * The account a call counts against, when it is not the provider's own (`id`): its limits, daily
   * cap and health (circuit, throttle pause) are the account's. The LLM provider answers the model's
   * vendor (`anthropic`, `openai`, `perplexity`, the last shared with the `perplexity` provider); the
   * generic http provider answers `http:<host>` (one limiter and one circuit per host).
   */
  accountOf?: (operationId: string, input: unknown) => string;
  /**
   * Default limits of accounts `accountOf` can answer that no provider definition owns (the LLM
   * vendors other than Perplexity). An account that is also a provider's id takes that provider's
   * `limits`; one without either takes this provider's `limits`.
   */
  accounts?: Record<string, { limits: RateLimitSpec[] }>;
  /** Max calls in flight at once, across all processes. */
  concurrency: number;
  /** Maps a non-2xx response to a Sluice error (the one place for this provider's throttle signals). */
  mapError?: (res: HttpResponse) => SluiceError;
  /** `true` for providers that cost nothing and need no key (website fetcher, pattern inferrer). */
  free?: boolean;
  operations: Record<string, OperationDefinition>;
  /**
   * One cheap (ideally free) call that proves the key and base URL work, for `sluice providers test`.
   * Resolves to a short description of what was checked; throws the mapped Sluice error otherwise.
   */
  probe?: (ctx: OperationContext) => Promise<string>;
}

/** Identity function that keeps the literal types of a provider definition. */
export function defineProvider<const P extends ProviderDefinition>(definition: P): P {
  return definition;
}

/** Identity function that infers an operation's input/output types from its schemas. */
export function defineOperation<I extends z.ZodType, O extends z.ZodType>(
  op: OperationDefinition<I, O>,
): OperationDefinition<I, O> {
  return op;
}
