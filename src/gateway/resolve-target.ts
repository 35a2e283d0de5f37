import { CriticalError } from '../errors.ts';
import { accountFamily, limitsOf } from '../limits/account-limits.ts';
import { hasConcurrencyCap, Semaphore } from '../limits/concurrency.ts';
import { limitsFromEnv } from '../limits/limit-spec.ts';
import { limitWindows } from '../limits/sliding-window.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import { redactSecrets } from '../secrets/redact.ts';
import type { Account, GatewayState, Target } from './call-context.ts';
import { dailyCapEnvVar, dailyCapOf, type GatewayOptions } from './gateway-options.ts';
import type { CallRequest } from './gateway-types.ts';

/**
 * Resolves what a call is about, once per provider operation and process: the definition and the
 * semaphore of its concurrency cap; then, from the validated input, the account it counts against
 * (limiter windows, daily caps, health), once per account. Unknown providers, operations and invalid
 * inputs are CriticalErrors naming what to fix.
 */
/** What resolution needs of the gateway: its options, environment and limit margin. */
export interface ResolveDeps {
  options: Pick<GatewayOptions, 'providers' | 'limits' | 'dailyCapsUsd'>;
  env: GatewayState['env'];
  marginMs: number;
}

export function targetResolver(gw: ResolveDeps, sems: Map<string, Semaphore>) {
  const targets = new Map<string, Target>();
  const accounts = new Map<string, Account>();
  // A bad SLUICE_*_LIMITS stops the program here, at start, naming the variable.
  const envLimits = limitsFromEnv(gw.env);

  function semaphore(provider: ProviderDefinition): Semaphore {
    const id = `${provider.id}:${provider.concurrency}`;
    let s = sems.get(id);
    if (!s) {
      s = new Semaphore(provider.concurrency);
      sems.set(id, s);
    }
    return s;
  }

  function target(req: CallRequest): Target {
    const id = `${req.provider}\u0000${req.operation}`;
    const known = targets.get(id);
    if (known) return known;
    const provider = gw.options.providers(req.provider);
    if (!provider) throw new CriticalError(`unknown provider "${req.provider}": check the pipeline's step`);
    const op = provider.operations[req.operation];
    if (!op) {
      throw new CriticalError(
        `provider "${req.provider}" has no operation "${req.operation}" (it has: ${Object.keys(provider.operations).join(', ')})`,
      );
    }
    const resolved: Target = {
      provider,
      operationId: req.operation,
      op,
      name: `${provider.id}.${req.operation}`,
      sem: hasConcurrencyCap(provider.concurrency) ? semaphore(provider) : undefined,
    };
    targets.set(id, resolved);
    return resolved;
  }

  /** The account a call of `t` with this (validated) input counts against: limits, caps, health. */
  function account(t: Target, input: unknown): Account {
    const accountId = t.provider.accountOf?.(t.operationId, input) ?? t.provider.id;
    const id = `${t.provider.id}\u0000${t.operationId}\u0000${accountId}`;
    const known = accounts.get(id);
    if (known) return known;
    const limits = limitsOf(
      { accountId, operationId: t.operationId, provider: t.provider, op: t.op },
      { config: gw.options.limits, env: envLimits, providers: gw.options.providers },
    );
    // Daily caps: the account's (shared by every provider reaching it), and the provider's own.
    const capIds = [...new Set([accountFamily(accountId), t.provider.id])];
    const dailyCaps = capIds.flatMap((capId) => {
      const usd = dailyCapOf(capId, gw.options.dailyCapsUsd, gw.env);
      return usd === undefined ? [] : [{ id: capId, usd, envVar: dailyCapEnvVar(capId) }];
    });
    const resolved: Account = {
      id: accountId,
      windows: limitWindows(accountId, t.operationId, limits.account, limits.operation, gw.marginMs),
      dailyCaps,
      healthKey: accountId,
    };
    accounts.set(id, resolved);
    return resolved;
  }

  return { target, account };
}

/**
 * The account a call would count against (its limiter windows, daily caps, health key), without a
 * gateway: for tests and for commands that show the limits in force.
 */
export function resolveAccountFor(
  options: ResolveDeps['options'] & { env?: GatewayState['env']; marginMs?: number },
  req: Pick<CallRequest, 'provider' | 'operation' | 'input'>,
): Account {
  const r = targetResolver({ options, env: options.env ?? {}, marginMs: options.marginMs ?? 0 }, new Map());
  return r.account(r.target(req as CallRequest), req.input);
}

export function validateInput(target: Target, input: unknown): unknown {
  const parsed = target.op.input.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path ?? [];
  const field = path.join('.') || 'input';
  throw new CriticalError(
    `invalid input for ${target.name}: field "${field}" ${issue?.message ?? 'is invalid'} (got ${describeValue(input, path)}); fix the record or the step's input mapping`,
    { cause: parsed.error },
  );
}

/**
 * What an invalid field held, for the message: the offending field's value only (never the whole
 * input: an http step's headers carry credentials), short, scrubbed, and only its type for fields
 * whose name says they hold a credential.
 */
function describeValue(input: unknown, path: readonly PropertyKey[]): string {
  if (path.some((k) => typeof k === 'string' && /header|auth|key|token|secret|password|cookie/i.test(k)))
    return 'a value not shown';
  let v: unknown = input;
  for (const k of path)
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  if (v === undefined) return 'nothing';
  if (v !== null && typeof v === 'object') return Array.isArray(v) ? 'a list' : 'an object';
  const text = JSON.stringify(v) ?? String(v);
  return redactSecrets(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
