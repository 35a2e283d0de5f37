import { z } from 'zod';
import type { CallOutcome } from '../../engine/gateway-types.ts';
import type { FieldWrite, StepContext, StepOutput } from '../../engine/pipeline-types.ts';
import { CriticalError } from '../../errors.ts';
import { type PathSegment, parseJsonPath, selectPath } from '../json-path.ts';
import type { AiSpec } from '../schema.ts';
import { at, SpecError } from '../spec-error.ts';
import { parseTemplate, renderTemplate, type Template } from '../template.ts';
import { buildInput, type CompiledCall, callGateway, compileCall } from './call.ts';
import {
  applyMapping,
  compileConfidence,
  compileContacts,
  compileMapping,
  extractContacts,
} from './output-mapping.ts';
import {
  type CompiledStep,
  makeWrite,
  mergeForecasts,
  providerProvenance,
  ROOTS,
  resolveConfidence,
  type Scope,
  SKIPPED,
  scopeVars,
} from './runtime.ts';

/**
 * `ai`: an LLM research or classification step. `context` calls run first (e.g. read the course's
 * staff page), then the prompt (a template over the record and `context.<name>`) goes to the `llm`
 * provider through the gateway like any paid call: cached, rate-limited, in the ledger, priced from
 * token usage by the provider. The answer must match the declared JSON Schema, or the call fails.
 */
export const AI_PROVIDER = 'llm';
export const AI_OPERATION = 'generate';

interface ContextCall {
  name: string;
  call: CompiledCall;
  path: PathSegment[];
  optional: boolean;
}

export function compileAi(spec: AiSpec, path: (string | number)[], inForeach: boolean): CompiledStep {
  const context: ContextCall[] = Object.entries(spec.context ?? {}).map(([name, c]) => ({
    name,
    call: compileCall(c, [...path, 'context', name], ROOTS.record),
    path: c.path ? at([...path, 'context', name, 'path'], c.path, () => parseJsonPath(c.path!)) : [],
    optional: c.optional ?? false,
  }));
  const prompt = at([...path, 'prompt'], spec.prompt, () => parseTemplate(spec.prompt, ROOTS.ai));
  const system: Template | undefined =
    spec.system === undefined
      ? undefined
      : at([...path, 'system'], spec.system, () => parseTemplate(spec.system!, ROOTS.ai));
  let answerSchema: z.ZodType;
  try {
    answerSchema = z.fromJSONSchema(spec.schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    throw new SpecError([...path, 'schema'], `not a usable JSON Schema: ${(err as Error).message}`);
  }
  const mappings = compileMapping(spec.output, [...path, 'output'], inForeach);
  const contacts = compileContacts(spec.contacts, [...path, 'contacts']);
  if (contacts && inForeach)
    throw new SpecError([...path, 'contacts'], 'new contacts can only be found by account-level steps');
  const confidence = compileConfidence(spec.confidence, [...path, 'confidence']);

  async function run(ctx: StepContext, scope: Scope): Promise<StepOutput> {
    const vars = scopeVars(scope);
    const gathered: Record<string, unknown> = {};
    const contextCost: CallOutcome[] = [];
    for (const c of context) {
      const built = buildInput(c.call, vars);
      if (!built.ok) return SKIPPED(`context ${c.name}: missing input ${built.missing.join(', ')}`);
      const outcome = await callGateway(ctx, c.call, built.input);
      contextCost.push(outcome);
      const value = outcome.found ? (selectPath(outcome.output, c.path) ?? null) : null;
      // No page, no extraction: prompting over nothing would pay for a guess.
      if (value === null && !c.optional)
        return SKIPPED(`context ${c.name}: ${c.call.provider} found nothing`);
      gathered[c.name] = value;
    }
    const promptVars = { ...vars, context: gathered };
    const input: Record<string, unknown> = {
      model: spec.model,
      prompt: renderTemplate(prompt, promptVars).value,
      schema: spec.schema,
    };
    if (system) input.system = renderTemplate(system, promptVars).value;
    if (spec.max_tokens !== undefined) input.max_tokens = spec.max_tokens;
    if (spec.temperature !== undefined) input.temperature = spec.temperature;
    const outcome = await ctx.gateway.call(
      { provider: AI_PROVIDER, operation: AI_OPERATION, input },
      ctx.signal,
    );
    const paid = outcome.costUsd + contextCost.reduce((s, o) => s + o.costUsd, 0);
    if (!outcome.found) return { status: 'not_found', writes: [], data: { cost_usd: paid } };
    const raw = answerOf(outcome.output);
    const parsed = answerSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CriticalError(
        `step ${spec.id}: the ${spec.model} answer does not match the step's schema (${issue?.path.join('.') || 'answer'}: ${issue?.message}); adjust the prompt or the schema`,
      );
    }
    const answer = parsed.data;
    const stepConfidence = resolveConfidence(confidence, { ...vars, output: answer });
    const values = applyMapping(mappings, answer, vars);
    // `contacts.from: context.<name>...` reads people from a context call (e.g. the staff entries the
    // website extractor found) instead of from the answer.
    const found = contacts
      ? extractContacts(contacts, contacts.fromContext ? { context: gathered } : answer, scope.contacts)
      : [];
    // The step's whole cost (context calls + the LLM) is shared by the fields it wrote. New contacts'
    // own fields are recorded by the run engine's final write (source step, operation = this step id).
    const share = paid / Math.max(1, values.length);
    const writes: FieldWrite[] = values.map((v) =>
      makeWrite(
        scope,
        v.mapping.target,
        v.value,
        providerProvenance(outcome, share, v.confidence ?? stepConfidence),
      ),
    );
    return {
      status: writes.length || found.length ? 'found' : 'not_found',
      writes,
      ...(found.length ? { newContacts: found } : {}),
      data: { answer, cost_usd: paid },
    };
  }

  return {
    id: spec.id,
    required: spec.required ?? false,
    run,
    forecast: () =>
      mergeForecasts([
        context.map((c) => ({ provider: c.call.provider, operation: c.call.operation, callsPerRecord: 1 })),
        [{ provider: AI_PROVIDER, operation: AI_OPERATION, callsPerRecord: 1 }],
      ]),
  };
}

/** The llm operation returns `{ object, usage… }`; accept a bare object too. */
function answerOf(output: unknown): unknown {
  if (output && typeof output === 'object' && 'object' in output)
    return (output as { object: unknown }).object;
  return output;
}
