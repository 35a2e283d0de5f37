import type { CallOutcome } from '../../engine/gateway-types.ts';
import type { FieldWrite, StepContext, StepError, StepOutput } from '../../engine/pipeline-types.ts';
import { errorClassOf, isCallFailure } from '../../errors.ts';
import { type Expr, evaluate, type FieldRef, fieldRefs, parseExpression, truthy } from '../expression.ts';
import type { WaterfallSpec } from '../schema.ts';
import { at, SpecError } from '../spec-error.ts';
import { Template, type TemplateTree } from '../template.ts';
import { buildInput, type CompiledCall, callGateway, compileCall } from './call.ts';
import {
  applyMapping,
  type CompiledMapping,
  compileConfidence,
  compileMapping,
  fieldTarget,
} from './output-mapping.ts';
import {
  type CompiledStep,
  type ConfidenceSpec,
  currentValue,
  decide,
  type FieldTarget,
  type Forecast,
  isBlank,
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
 * `waterfall`: fill fields by trying providers in order, stopping once every field has a value.
 * - a provider whose required inputs are empty is skipped (never paid to look up nothing);
 * - an optional validator checks one field's candidate; a rejection discards it and the next
 *   provider is tried;
 * - a provider whose call fails for good (critical or quota error, or retries used up on the run's last
 *   attempt) is passed over too (the next one may work), and the failure is recorded: a field left
 *   unfilled while a provider failed makes the step `failed` (never `not_found`: we could not ask), so
 *   the run ends partial with the reason and a redrive asks again.
 *   Throttles, infrastructure, budget and earlier-attempt retryable errors propagate: the run engine
 *   retries, reschedules or defers the run.
 */
interface CompiledProvider {
  call: CompiledCall;
  mappings: CompiledMapping[];
  when: Expr | undefined;
  confidence: ConfidenceSpec;
  verifiedWhen: Expr | undefined;
}

interface Attempt {
  provider: string;
  operation: string;
  result: 'hit' | 'not_found' | 'skipped_missing_input' | 'skipped_when' | 'rejected' | 'error';
  detail?: string;
  validated?: boolean;
}

export function compileWaterfall(
  spec: WaterfallSpec,
  path: (string | number)[],
  inForeach: boolean,
): CompiledStep {
  const targets = spec.fields.map((f, i) => fieldTarget(f, inForeach, [...path, 'fields', i]));
  const providers: CompiledProvider[] = spec.providers.map((p, i) => {
    const pp = [...path, 'providers', i];
    const mappings = compileMapping(p.output, [...pp, 'output'], inForeach);
    for (const m of mappings) {
      if (!spec.fields.includes(m.name))
        throw new SpecError([...pp, 'output', m.name], `"${m.name}" is not one of this waterfall's fields`);
    }
    return {
      call: compileCall(p, pp, ROOTS.record),
      mappings,
      when:
        p.when === undefined
          ? undefined
          : at([...pp, 'when'], p.when, () => parseExpression(p.when!, ROOTS.record)),
      confidence: compileConfidence(p.confidence, [...pp, 'confidence']),
      verifiedWhen:
        p.verified_when === undefined
          ? undefined
          : at([...pp, 'verified_when'], p.verified_when, () =>
              parseExpression(p.verified_when!, ROOTS.output),
            ),
    };
  });
  const v = spec.validate;
  const validatedName = v?.field ?? spec.fields[0]!;
  if (v && !spec.fields.includes(validatedName))
    throw new SpecError(
      [...path, 'validate', 'field'],
      `"${validatedName}" is not one of this waterfall's fields`,
    );
  const validator = v && {
    call: compileCall(v, [...path, 'validate'], ROOTS.output),
    accept: at([...path, 'validate', 'accept'], v.accept, () => parseExpression(v.accept, ROOTS.output)),
    field: validatedName,
  };
  const key = (t: FieldTarget) => `${t.entity}.${t.field}`;

  async function run(ctx: StepContext, scope: Scope): Promise<StepOutput> {
    const wanted = spec.overwrite ? targets : targets.filter((t) => isBlank(currentValue(scope, t)));
    if (!wanted.length) return SKIPPED('every field already has a value');
    const open = new Set(wanted.map(key));
    const vars = scopeVars(scope);
    const writes: FieldWrite[] = [];
    const attempts: Attempt[] = [];
    const errors: StepError[] = [];
    const failure = (call: CompiledCall, err: unknown): StepError => ({
      step: spec.id,
      provider: call.provider,
      operation: call.operation,
      errorClass: errorClassOf(err),
      message: (err as Error).message,
    });
    const finalAttempt = ctx.finalAttempt ?? false;
    let paid = 0;
    for (const p of providers) {
      if (!open.size) break;
      const tag = { provider: p.call.provider, operation: p.call.operation };
      if (p.when && !truthy(evaluate(p.when, vars))) {
        attempts.push({ ...tag, result: 'skipped_when' });
        continue;
      }
      const built = buildInput(p.call, vars);
      if (!built.ok) {
        attempts.push({ ...tag, result: 'skipped_missing_input', detail: built.missing.join(', ') });
        continue;
      }
      let outcome: CallOutcome;
      try {
        outcome = await callGateway(ctx, p.call, built.input);
      } catch (err) {
        if (!isCallFailure(err, finalAttempt) || ctx.signal.aborted) throw err;
        errors.push(failure(p.call, err));
        attempts.push({ ...tag, result: 'error', detail: (err as Error).message });
        continue;
      }
      paid += outcome.costUsd;
      if (!outcome.found) {
        attempts.push({ ...tag, result: 'not_found' });
        continue;
      }
      const stepConfidence = resolveConfidence(p.confidence, { ...vars, output: outcome.output });
      let values = applyMapping(
        p.mappings.filter((m) => open.has(key(m.target))),
        outcome.output,
        vars,
      );
      let validatorCost = 0;
      let rejected = false;
      const candidate = validator && values.find((x) => x.mapping.name === validator.field);
      const preVerified =
        candidate !== undefined &&
        p.verifiedWhen !== undefined &&
        truthy(evaluate(p.verifiedWhen, { ...vars, output: outcome.output, value: candidate.value }));
      if (validator && candidate && !preVerified) {
        const vVars = { ...vars, value: candidate.value };
        const vInput = buildInput(validator.call, vVars);
        let accepted = false;
        let validatorError: string | undefined;
        if (vInput.ok) {
          try {
            const checked = await callGateway(ctx, validator.call, vInput.input);
            validatorCost = checked.costUsd;
            paid += validatorCost;
            accepted =
              checked.found && truthy(evaluate(validator.accept, { ...vVars, output: checked.output }));
          } catch (err) {
            // A value that cannot be checked is not written (a wrong email costs more than none), and
            // the failure is recorded so a redrive checks again; throttles and the like propagate.
            if (!isCallFailure(err, finalAttempt) || ctx.signal.aborted) throw err;
            validatorError = (err as Error).message;
            errors.push(failure(validator.call, err));
          }
        }
        if (!accepted) {
          rejected = true;
          values = values.filter((x) => x !== candidate);
          attempts.push({
            ...tag,
            result: 'rejected',
            detail: `${validator.field}=${String(candidate.value)}${validatorError ? ` (cannot verify: ${validatorError})` : ''}`,
          });
        }
      }
      if (!values.length) {
        if (!rejected) attempts.push({ ...tag, result: 'not_found' });
        continue;
      }
      // `validated`: whether the validator was paid for this hit (the optimizer prices attempts by it).
      attempts.push({
        ...tag,
        result: 'hit',
        ...(validator ? { validated: candidate !== undefined && !preVerified } : {}),
      });
      // The call's cost is shared by the values it produced; the validator's goes to the validated field.
      const share = outcome.costUsd / values.length;
      for (const x of values) {
        const validated = validator && x === candidate;
        const prov = providerProvenance(
          outcome,
          share + (validated ? validatorCost : 0),
          x.confidence ?? stepConfidence,
        );
        writes.push(makeWrite(scope, x.mapping.target, x.value, prov));
        open.delete(key(x.mapping.target));
      }
    }
    const data = {
      attempts,
      cost_usd: paid,
      ...(open.size ? { unfilled: [...open] } : {}),
      ...(open.size && errors.length ? { errors } : {}),
    };
    // A field left open while a provider could not answer is not "not found": the step failed.
    if (open.size && errors.length) return { status: 'failed', writes, data };
    if (writes.length) return { status: 'found', writes, data };
    const allSkipped = attempts.every((a) => a.result.startsWith('skipped'));
    return { status: allSkipped ? 'skipped' : 'not_found', writes, data };
  }

  /**
   * The calls of one record from its stored values: none when every field is filled (without
   * `overwrite`); per provider none when its `when` is false or a required input is empty. Values an
   * earlier step writes cannot be decided: those calls are counted, marked undecided. The validator is
   * counted once per provider that may answer.
   */
  function forecastFor(scope: Scope, written: ReadonlySet<string>): Forecast[] {
    if (inForeach) return staticForecast();
    if (!spec.overwrite && targets.every((t) => t.entity === 'account' && !isBlank(currentValue(scope, t))))
      return [];
    const out: Forecast[] = [];
    const vars = scopeVars(scope);
    for (const p of providers) {
      const decided = p.when ? decide(p.when, scope, written) : true;
      if (decided === false) continue;
      const reads = Object.values(p.call.input).flatMap(treeRefs);
      const dependsOnRun = reads.some(
        (r) => r.root !== 'account' || r.field === undefined || written.has(r.field),
      );
      if (!dependsOnRun && !buildInput(p.call, vars).ok) continue;
      const undecided = decided === undefined || dependsOnRun;
      out.push({ provider: p.call.provider, operation: p.call.operation, callsPerRecord: 1, undecided });
      if (validator)
        out.push({
          provider: validator.call.provider,
          operation: validator.call.operation,
          callsPerRecord: 1,
          undecided,
        });
    }
    return out;
  }
  const staticForecast = () =>
    mergeForecasts([
      providers.map((p) => ({ provider: p.call.provider, operation: p.call.operation, callsPerRecord: 1 })),
      validator
        ? [
            {
              provider: validator.call.provider,
              operation: validator.call.operation,
              callsPerRecord: providers.length,
            },
          ]
        : [],
    ]);

  return {
    id: spec.id,
    required: spec.required ?? false,
    run,
    forecast: staticForecast,
    forecastFor,
  };
}

/** The fields a template tree reads. */
function treeRefs(t: TemplateTree): FieldRef[] {
  if (t instanceof Template) return t.parts.flatMap((x) => (typeof x === 'string' ? [] : fieldRefs(x)));
  if (Array.isArray(t)) return t.flatMap(treeRefs);
  if (t && typeof t === 'object') return Object.values(t).flatMap(treeRefs);
  return [];
}
