import type { FieldWrite, StepContext, StepOutput } from '../../engine/pipeline-types.ts';
import { evaluate, parseExpression } from '../expression.ts';
import type { FormulaSpec } from '../schema.ts';
import { at } from '../spec-error.ts';
import { fieldTarget } from './output-mapping.ts';
import {
  applyWrites,
  type CompiledStep,
  isBlank,
  makeWrite,
  ROOTS,
  type Scope,
  scopeVars,
} from './runtime.ts';

/**
 * `formula`: derived fields computed from other fields with the expression language (no calls, no
 * cost). Fields are computed in the order written, each seeing the ones before it. A null result
 * writes nothing.
 */
export function compileFormula(
  spec: FormulaSpec,
  path: (string | number)[],
  inForeach: boolean,
): CompiledStep {
  const fields = Object.entries(spec.fields).map(([name, src]) => ({
    target: fieldTarget(name, inForeach, [...path, 'fields', name]),
    expr: at([...path, 'fields', name], src, () => parseExpression(src, ROOTS.record)),
  }));
  return {
    id: spec.id,
    required: spec.required ?? false,
    async run(_ctx: StepContext, scope: Scope): Promise<StepOutput> {
      const writes: FieldWrite[] = [];
      let current = scope;
      for (const f of fields) {
        const value = evaluate(f.expr, scopeVars(current));
        if (isBlank(value)) continue;
        const write = makeWrite(current, f.target, value, { source: 'step', costUsd: 0 });
        writes.push(write);
        current = applyWrites(current, [write]);
      }
      return { status: writes.length ? 'found' : 'not_found', writes };
    },
    forecast: () => [],
  };
}
