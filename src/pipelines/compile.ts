import type { PipelineDefinition, StepDefinition } from '../engine/pipeline-types.ts';
import { evaluate, parseExpression, truthy } from './expression.ts';
import type { PipelineSpec, StepSpec } from './schema.ts';
import { at, SpecError, SpecErrors } from './spec-error.ts';
import { compileAi } from './steps/ai.ts';
import { compileForeach } from './steps/foreach.ts';
import { compileFormula } from './steps/formula.ts';
import { compileHttp } from './steps/http.ts';
import {
  type CompiledStep,
  decide,
  mergeForecasts,
  ROOTS,
  type Scope,
  SKIPPED,
  scopeVars,
} from './steps/runtime.ts';
import { compileWaterfall } from './steps/waterfall.ts';

/**
 * Turns a validated pipeline file into the PipelineDefinition the run engine executes. Every
 * expression, template and JSON path is parsed here, so mistakes surface when the file is loaded
 * (as SpecErrors pointing into the YAML), not halfway through a paid run.
 */
export function compilePipeline(spec: PipelineSpec): PipelineDefinition {
  const ids = new Set<string>();
  const problems: SpecError[] = [];
  const compileStep = (s: StepSpec, path: (string | number)[], inForeach: boolean): CompiledStep => {
    try {
      return compileOne(s, path, inForeach);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      problems.push(err);
      // A stand-in so the other steps are still checked; the pipeline is rejected below.
      return {
        id: s.id,
        required: false,
        run: () => Promise.resolve(SKIPPED('invalid')),
        forecast: () => [],
      };
    }
  };
  const compileOne = (s: StepSpec, path: (string | number)[], inForeach: boolean): CompiledStep => {
    if (ids.has(s.id))
      throw new SpecError([...path, 'id'], `step id "${s.id}" is used twice; ids must be unique`);
    ids.add(s.id);
    let inner: CompiledStep;
    switch (s.kind) {
      case 'waterfall':
        inner = compileWaterfall(s, path, inForeach);
        break;
      case 'ai':
        inner = compileAi(s, path, inForeach);
        break;
      case 'http':
        inner = compileHttp(s, path, inForeach);
        break;
      case 'formula':
        inner = compileFormula(s, path, inForeach);
        break;
      case 'foreach':
        if (inForeach) throw new SpecError([...path, 'kind'], 'foreach steps cannot be nested');
        inner = compileForeach(s, path, (child, p) => compileStep(child, p, true));
        break;
    }
    if (s.when === undefined) return inner;
    const when = at([...path, 'when'], s.when, () => parseExpression(s.when!, ROOTS.record));
    return {
      ...inner,
      run: (ctx, scope) =>
        truthy(evaluate(when, scopeVars(scope)))
          ? inner.run(ctx, scope)
          : Promise.resolve(SKIPPED(`when: ${s.when}`)),
      forecastFor: (scope, written) => {
        const decided = inForeach ? undefined : decide(when, scope, written);
        if (decided === false) return [];
        const calls = inner.forecastFor ? inner.forecastFor(scope, written) : inner.forecast();
        return decided === undefined ? calls.map((c) => ({ ...c, undecided: true })) : calls;
      },
    };
  };

  const compiled = spec.steps.map((s, i) => compileStep(s, ['steps', i], false));
  if (problems.length) throw new SpecErrors(problems);
  const steps: StepDefinition[] = compiled.map((c) => ({
    id: c.id,
    required: c.required,
    run: (ctx) => {
      const scope: Scope = { account: ctx.record.account, contacts: ctx.record.contacts };
      return c.run(ctx, scope);
    },
  }));
  const forecast = mergeForecasts(compiled.map((c) => c.forecast()));
  // Account fields each step may write, for deciding forecasts from stored values: what step i reads
  // is decidable when no step before it writes it.
  const writtenBefore: ReadonlySet<string>[] = [];
  const written = new Set<string>();
  spec.steps.forEach((s, i) => {
    writtenBefore[i] = new Set(written);
    for (const f of accountFieldsWritten(s)) written.add(f);
  });
  const forecastRecord = (account: Record<string, unknown>) => {
    const scope: Scope = { account, contacts: [] };
    return compiled.flatMap((c, i) =>
      c.forecastFor ? c.forecastFor(scope, writtenBefore[i]!) : c.forecast(),
    );
  };
  const models = new Set<string>();
  const collect = (list: StepSpec[]) => {
    for (const s of list) {
      if (s.kind === 'ai') models.add(s.model);
      if (s.kind === 'foreach') collect(s.steps);
    }
  };
  collect(spec.steps);
  return {
    name: spec.name,
    ...(spec.description ? { description: spec.description } : {}),
    steps,
    forecast,
    forecastRecord,
    models: [...models].sort(),
  };
}

/** Account fields a top-level step may write (inside a foreach, only `account.`-prefixed names are). */
function accountFieldsWritten(s: StepSpec, inForeach = false): string[] {
  const names = (() => {
    switch (s.kind) {
      case 'waterfall':
        return s.fields;
      case 'formula':
        return Object.keys(s.fields);
      case 'ai':
      case 'http':
        return Object.keys(s.output ?? {});
      case 'foreach':
        return s.steps.flatMap((c) => accountFieldsWritten(c, true).map((f) => `account.${f}`));
    }
  })();
  return names.flatMap((n) =>
    n.startsWith('account.') ? [n.slice(8)] : n.startsWith('contact.') || inForeach ? [] : [n],
  );
}
