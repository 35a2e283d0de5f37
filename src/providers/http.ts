import type { z } from 'zod';
import {
  ConfigError,
  CriticalError,
  NotFoundError,
  RetryableError,
  type SluiceError,
  ThrottledError,
} from '../errors.ts';
import { redactSecrets } from '../logger.ts';
import type {
  HttpRequest,
  HttpResponse,
  OperationContext,
  OperationServices,
  ProviderDefinition,
} from './define-provider.ts';

/**
 * The HTTP edge of every provider: base URL and key resolution, auth, per-request timeout, JSON
 * parsing, and the ONE place where non-2xx responses become Sluice errors. Retries are not here:
 * the gateway (src/engine/) retries what this module classifies as retryable or throttled.
 */

/** Default per-request timeout when neither the request nor the caller sets one. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** `hunter` -> `SLUICE_HUNTER_BASE_URL`, `email-pattern` -> `SLUICE_EMAIL_PATTERN_BASE_URL`. */
export function baseUrlEnvVar(providerId: string): string {
  return `SLUICE_${providerId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_BASE_URL`;
}

/**
 * The base URL a provider is called at. Precedence: explicit override (config / sandbox) >
 * env `SLUICE_<ID>_BASE_URL` > the definition's documented default. Trailing slashes are dropped.
 */
export function resolveBaseUrl(
  provider: ProviderDefinition,
  env: Readonly<Record<string, string | undefined>>,
  override?: string,
): string {
  const fromEnv = env[baseUrlEnvVar(provider.id)];
  const url = override ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : provider.baseUrl);
  if (url !== '' && !/^https?:\/\//i.test(url)) {
    throw new ConfigError(
      `base URL for provider ${provider.id} is ${JSON.stringify(url)}: it must start with http:// or https:// (set ${baseUrlEnvVar(provider.id)} or unset it)`,
      { exitCode: 2 },
    );
  }
  return url.replace(/\/+$/, '');
}

/** The key from the provider's env var, or undefined (empty counts as unset). */
export function resolveApiKey(
  provider: ProviderDefinition,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (!provider.auth) return undefined;
  const value = env[provider.auth.envVar]?.trim();
  return value ? value : undefined;
}

/**
 * Checks, before a run starts, that every provider that needs a key has one. Throws one ConfigError
 * naming every missing variable, so the user fixes `.env` once.
 */
export function checkCredentials(
  providers: readonly ProviderDefinition[],
  env: Readonly<Record<string, string | undefined>>,
): void {
  const missing = providers
    .filter((p) => p.auth?.required && resolveApiKey(p, env) === undefined)
    .map((p) => `${p.auth!.envVar} (provider ${p.id})`);
  if (missing.length > 0) {
    throw new ConfigError(
      `missing API key${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}. Set ${missing.length > 1 ? 'them' : 'it'} in the environment or in .env, or run \`sluice demo\` / \`sluice sandbox start\` to use simulated providers.`,
      { exitCode: 1 },
    );
  }
}

/** Parses Retry-After: delta-seconds or an HTTP date. Returns milliseconds, or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function messageOf(res: HttpResponse): string {
  const b = res.body as Record<string, unknown> | null;
  if (b && typeof b === 'object') {
    const errors = b.errors;
    if (Array.isArray(errors) && errors[0] && typeof errors[0] === 'object') {
      const e = errors[0] as Record<string, unknown>;
      return String(e.details ?? e.message ?? e.id ?? '');
    }
    const err = b.error;
    if (err && typeof err === 'object') return String((err as Record<string, unknown>).message ?? '');
    if (typeof err === 'string') return err;
    if (typeof b.message === 'string') return b.message;
    if (typeof b.readableMessage === 'string') return b.readableMessage;
  }
  return res.text.slice(0, 200);
}

/** The default mapping of a non-2xx response, used when a provider has no `mapError` (and by those that do). */
export function defaultMapError(
  provider: Pick<ProviderDefinition, 'id' | 'auth'>,
  res: HttpResponse,
): SluiceError {
  const detail = redactSecrets(messageOf(res)).trim();
  const what = `${provider.id} answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`;
  if (res.status >= 500) return new RetryableError(`${what} (server error, will retry)`);
  if (res.status === 429) {
    return new ThrottledError(`${what} (rate limited)`, {
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
    });
  }
  if (res.status === 401 || res.status === 403) {
    const hint = provider.auth ? `check ${provider.auth.envVar}` : 'check the provider configuration';
    return new CriticalError(`${what} (authentication failed: ${hint})`);
  }
  if (res.status === 404) return new NotFoundError(what);
  return new CriticalError(`${what} (request rejected; retrying will not help)`);
}

/** Validates a success body against a zod schema; a mismatch is a CriticalError for that call only. */
export function parseBody<S extends z.ZodType>(
  provider: { id: string },
  schema: S,
  res: HttpResponse,
): z.infer<S> {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CriticalError(
      `${provider.id} returned an unexpected response body (${issue?.path.join('.') || 'body'}: ${issue?.message}); body starts with ${JSON.stringify(res.text.slice(0, 120))}`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

export interface OperationContextOptions {
  /** The environment (Config.env): API keys and `SLUICE_<ID>_BASE_URL`. */
  env: Readonly<Record<string, string | undefined>>;
  /** Base URL override from config or the sandbox; wins over env and the default. */
  baseUrl?: string;
  /** Cancels every request of this context (the run was cancelled). */
  signal?: AbortSignal;
  /** Per-request timeout unless the request sets its own. Default 30 000 ms. */
  timeoutMs?: number;
  services?: OperationServices;
  /** Injected fetch (tests). Default: global fetch. */
  fetch?: typeof fetch;
}

type Query = NonNullable<HttpRequest['query']>;

function buildUrl(baseUrl: string, path: string, query: Query | undefined): URL {
  const url = /^https?:\/\//i.test(path)
    ? new URL(path)
    : new URL(`${baseUrl}${path.startsWith('/') ? '' : '/'}${path}`);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, String(item));
    else url.searchParams.set(k, String(v));
  }
  return url;
}

/** What to show of a URL in messages: no query string (it may hold `api_key`). */
function safeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

const MAX_REDIRECTS = 5;

/**
 * fetch, following redirects by hand within the base URL's origin only. A provider's key travels in
 * headers (`x-api-key`, `Authorization`) or the query string, and fetch's own `redirect: 'follow'`
 * re-sends custom headers to whatever origin a `Location` names; a redirect to another origin is
 * refused instead (a configuration problem: point the base URL at where the API lives).
 */
async function fetchSameOrigin(
  providerId: string,
  doFetch: typeof fetch,
  url: URL,
  init: { method: string; headers: Record<string, string>; body: string | undefined; signal: AbortSignal },
): Promise<Response> {
  let target = url;
  let { method, body } = init;
  for (let hop = 0; ; hop++) {
    const response = await doFetch(target, { ...init, method, body, redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel();
    const next = new URL(location, target);
    if (next.origin !== url.origin)
      throw new CriticalError(
        `${providerId}: ${method} ${safeUrl(target)} redirected to ${next.origin}: not followed, so the key does not travel to another origin; set the provider's base URL to where its API answers`,
      );
    if (hop >= MAX_REDIRECTS)
      throw new CriticalError(
        `${providerId}: ${safeUrl(url)}: more than ${MAX_REDIRECTS} redirects; not followed`,
      );
    if (
      response.status === 303 ||
      ((response.status === 301 || response.status === 302) && method === 'POST')
    ) {
      method = 'GET';
      body = undefined;
    }
    target = next;
  }
}

/** Builds the OperationContext an operation's `run` receives. */
export function createOperationContext(
  provider: ProviderDefinition,
  options: OperationContextOptions,
): OperationContext {
  const baseUrl = resolveBaseUrl(provider, options.env, options.baseUrl);
  const apiKey = resolveApiKey(provider, options.env);
  const signal = options.signal ?? new AbortController().signal;
  const doFetch = options.fetch ?? fetch;

  async function request(req: HttpRequest & { acceptStatus?: number[] }): Promise<HttpResponse> {
    const authed = apiKey !== undefined && provider.applyAuth ? provider.applyAuth(req, apiKey) : req;
    const url = buildUrl(baseUrl, authed.path, authed.query);
    const headers: Record<string, string> = { accept: 'application/json', ...authed.headers };
    let body: string | undefined;
    if (authed.body !== undefined) {
      body = typeof authed.body === 'string' ? authed.body : JSON.stringify(authed.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
    }
    const timeoutMs = authed.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    const target = `${authed.method} ${safeUrl(url)}`;

    let response: Response;
    let text: string;
    try {
      response = await fetchSameOrigin(provider.id, doFetch, url, {
        method: authed.method,
        headers,
        body,
        signal: combined,
      });
      text = await response.text();
    } catch (err) {
      if (err instanceof CriticalError) throw err;
      if (signal.aborted) throw signal.reason ?? err;
      if (timeout.aborted) {
        throw new RetryableError(`${provider.id}: ${target} timed out after ${timeoutMs} ms`, { cause: err });
      }
      const reason =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new RetryableError(`${provider.id}: ${target} failed: ${redactSecrets(reason)}`, { cause: err });
    }

    const contentType = response.headers.get('content-type') ?? '';
    const looksJson = /\bjson\b/i.test(contentType) || /^\s*[[{]/.test(text);
    const ok =
      (response.status >= 200 && response.status < 300) || req.acceptStatus?.includes(response.status);
    let parsed: unknown = text;
    if (looksJson && text.trim() !== '') {
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        // A garbage success body (truncated, cut by a proxy) says nothing about the data: it is retried
        // like a 5xx (bounded by the operation's attempts), never taken as an answer. Error bodies fall
        // back to text.
        if (ok && (authed.responseType ?? 'json') === 'json') {
          throw new RetryableError(
            `${provider.id}: ${target} returned a malformed JSON body (HTTP ${response.status}, will retry): ${JSON.stringify(redactSecrets(text.slice(0, 120)))}`,
            { cause: err },
          );
        }
      }
    } else if (ok && (authed.responseType ?? 'json') === 'json' && response.status !== 204) {
      throw new RetryableError(
        `${provider.id}: ${target} returned a non-JSON body (HTTP ${response.status}, ${contentType || 'no content type'}, will retry): ${JSON.stringify(redactSecrets(text.slice(0, 120)))}`,
      );
    }
    const res: HttpResponse = { status: response.status, headers: response.headers, body: parsed, text };
    if (ok) return res;
    throw provider.mapError ? provider.mapError(res) : defaultMapError(provider, res);
  }

  return {
    request,
    apiKey,
    baseUrl,
    signal,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    env: options.env,
    services: options.services ?? {},
  };
}
