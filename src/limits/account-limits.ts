import type { OperationDefinition, ProviderDefinition, RateLimitSpec } from '../providers/define-provider.ts';
import { limitsEnvVar, parseLimits } from './limit-spec.ts';

/**
 * Where a call's limits come from. Limits belong to the provider ACCOUNT (the API key), not to an
 * operation: Hunter's email-finder and domain-search share 15/s + 500/min; each LLM vendor is its own
 * account; Perplexity reached through the `perplexity` provider or through `llm` is one account.
 *
 * Precedence, for account A (family F: A up to a `:`, so `http:api.example.com` → `http`):
 * 1. config (`GatewayOptions.limits`): key A or F, and `A.<operation>` / `F.<operation>` for an
 *    operation's own windows; a value is a list or the written form (`15/s,500/min`);
 * 2. env `SLUICE_<F>_LIMITS`, `SLUICE_<F>_<OPERATION>_LIMITS` (plans differ: Apollo free vs paid);
 * 3. the definitions: the provider whose id is A (its `limits`), else the calling provider's
 *    `accounts[A]`, else the calling provider's `limits`; the operation's `limits`.
 */
export type LimitsConfig = Readonly<Record<string, readonly RateLimitSpec[] | string>>;

/** `http:api.example.com` → `http`; `hunter` → `hunter`. */
export function accountFamily(accountId: string): string {
  const i = accountId.indexOf(':');
  return i < 0 ? accountId : accountId.slice(0, i);
}

export interface LimitsSources {
  config: LimitsConfig | undefined;
  /** Parsed `SLUICE_*_LIMITS` variables (limitsFromEnv), by variable name. */
  env: ReadonlyMap<string, RateLimitSpec[]>;
  providers: (id: string) => ProviderDefinition | undefined;
}

export interface CallLimits {
  account: RateLimitSpec[];
  operation: RateLimitSpec[] | undefined;
}

export function limitsOf(
  call: { accountId: string; operationId: string; provider: ProviderDefinition; op: OperationDefinition },
  sources: LimitsSources,
): CallLimits {
  const a = call.accountId;
  const f = accountFamily(a);
  const fromConfig = (keys: string[]): RateLimitSpec[] | undefined => {
    for (const k of keys) {
      const v = sources.config?.[k];
      if (v !== undefined) return typeof v === 'string' ? parseLimits(v, `limits.${k}`) : [...v];
    }
    return undefined;
  };
  const owner = a === call.provider.id ? call.provider : sources.providers(a);
  const account =
    fromConfig([a, f]) ??
    sources.env.get(limitsEnvVar(f)) ??
    owner?.limits ??
    call.provider.accounts?.[a]?.limits ??
    call.provider.limits;
  const operation =
    fromConfig([`${a}.${call.operationId}`, `${f}.${call.operationId}`]) ??
    sources.env.get(limitsEnvVar(f, call.operationId)) ??
    call.op.limits;
  return { account: [...account], operation: operation ? [...operation] : undefined };
}
