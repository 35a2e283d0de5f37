import type { CallOutcome } from '../../engine/gateway-types.ts';
import type { StepContext } from '../../engine/pipeline-types.ts';
import type { CallSpec } from '../schema.ts';
import { at } from '../spec-error.ts';
import {
  parseTemplateTree,
  renderTemplate,
  renderTemplateTree,
  Template,
  type TemplateTree,
} from '../template.ts';
import { isBlank } from './runtime.ts';

/** A provider call of a pipeline file, compiled: input templates rendered against the record at run time. */
export interface CompiledCall {
  provider: string;
  operation: string;
  input: Record<string, TemplateTree>;
  optional: ReadonlySet<string>;
}

export function compileCall(
  spec: CallSpec,
  path: (string | number)[],
  roots: readonly string[],
): CompiledCall {
  const input: Record<string, TemplateTree> = {};
  for (const [key, value] of Object.entries(spec.input ?? {})) {
    input[key] = at([...path, 'input', key], JSON.stringify(value), () => parseTemplateTree(value, roots));
  }
  return {
    provider: spec.provider,
    operation: spec.operation,
    input,
    optional: new Set(spec.optional_inputs ?? []),
  };
}

export type BuiltInput = { ok: true; input: Record<string, unknown> } | { ok: false; missing: string[] };

/**
 * Renders the input. An input whose template refers to an empty field is "missing": the call is
 * skipped (a provider is never paid to look up nothing) unless the key is in `optional_inputs`,
 * in which case it is left out of the input.
 */
export function buildInput(call: CompiledCall, vars: Record<string, unknown>): BuiltInput {
  const input: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const [key, t] of Object.entries(call.input)) {
    let value: unknown;
    let blank: boolean;
    if (t instanceof Template) {
      const r = renderTemplate(t, vars);
      value = r.value;
      blank = r.missing;
    } else {
      value = renderTemplateTree(t, vars);
      blank = isBlank(value);
    }
    if (blank) {
      if (!call.optional.has(key)) missing.push(key);
      continue;
    }
    input[key] = value;
  }
  return missing.length ? { ok: false, missing } : { ok: true, input };
}

export function callGateway(
  ctx: StepContext,
  call: CompiledCall,
  input: Record<string, unknown>,
): Promise<CallOutcome> {
  return ctx.gateway.call({ provider: call.provider, operation: call.operation, input }, ctx.signal);
}
