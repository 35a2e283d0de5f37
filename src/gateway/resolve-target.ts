import { CriticalError } from '../errors.ts';
import { hasConcurrencyCap, Semaphore } from '../limits/concurrency.ts';
import { limitWindows } from '../limits/gcra.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import { redactSecrets } from '../secrets/redact.ts';
import type { Account, GatewayState, Target } from './call-context.ts';
import { dailyCapEnvVar, dailyCapOf } from './gateway-options.ts';
import type { CallRequest } from './gateway-types.ts';

/**
 * Resolves what a call is about, once per provider operation and process: the definition, the
 * semaphore of its concurrency cap, and the account it counts against (limiter windows, daily caps,
 * health). Unknown providers, operations and invalid inputs are CriticalErrors naming what to fix.
 */
export function targetResolver(gw: GatewayState, sems: Map<string, Semaphore>) {
  const targets = new Map<string, { target: Target; account: Account }>();

  function semaphore(provider: ProviderDefinition): Semaphore {
    const id = `${provider.id}:${provider.concurrency}`;
    let s = sems.get(id);
    if (!s) {
      s = new Semaphore(provider.concurrency);
      sems.set(id, s);
    }
    return s;
  }

  function resolve(req: CallRequest): { target: Target; account: Account } {
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
    const target: Target = {
      provider,
      operationId: req.operation,
      op,
      name: `${provider.id}.${req.operation}`,
      sem: hasConcurrencyCap(provider.concurrency) ? semaphore(provider) : undefined,
    };
    const usd = dailyCapOf(provider.id, gw.options.dailyCapsUsd, gw.env);
    const account: Account = {
      id: provider.id,
      windows: limitWindows(provider.id, req.operation, provider.limits, op.limits, gw.marginMs),
      dailyCaps: usd === undefined ? [] : [{ id: provider.id, usd, envVar: dailyCapEnvVar(provider.id) }],
      healthKey: provider.id,
    };
    const resolved = { target, account };
    targets.set(id, resolved);
    return resolved;
  }

  return resolve;
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
