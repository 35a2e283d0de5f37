import { z } from 'zod';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import { COLUMN_FIELDS, type EntityType, RESERVED_FIELDS } from '../records/record-fields.ts';
import { didYouMean } from './did-you-mean.ts';
import { type Expr, fieldRefs, parseExpression } from './expression.ts';
import { type PathSegment, parseJsonPath } from './json-path.ts';
import type { CallSpec, OutputMappingSpec, PipelineSpec, StepSpec } from './schema.ts';
import { at, SpecError } from './spec-error.ts';
import { ROOTS } from './steps/runtime.ts';
import {
  parseHeaderTemplate,
  parseTemplate,
  parseTemplateTree,
  parseUrlTemplate,
  Template,
  type TemplateTree,
} from './template.ts';

/**
 * The schema check of a pipeline file, after compilation: every field a template, expression or `when`
 * reads must exist (a column, an attribute some step of the pipeline writes, or one declared under
 * `attributes:`), no step may write a column Sluice manages (`id`, `account_id`, `created_at`…), and
 * every output path must exist in the operation's declared output (a provider operation's schema, an
 * `ai` step's `schema:`). Every problem is returned, not only the first; each has its YAML path and,
 * where it is inside a one-line string, the offset of the name in it.
 */
export interface FieldCheckOptions {
  providers: readonly ProviderDefinition[];
  /** Attributes known to exist besides those the pipeline writes and declares (e.g. what imports wrote). */
  knownAttributes?: Partial<Record<EntityType, readonly string[]>>;
}

/** Fields Sluice reads but never lets a pipeline write. */
const READ_ONLY = {
  account: ['id', 'created_at', 'updated_at'],
  contact: ['id', 'account_id', 'created_at', 'updated_at'],
} as const;

type Path = (string | number)[];

export function checkFields(spec: PipelineSpec, options: FieldCheckOptions): SpecError[] {
  const problems: SpecError[] = [];
  const declared = spec.attributes ?? {};
  const known: Record<EntityType, Set<string>> = {
    account: new Set([
      ...COLUMN_FIELDS.account,
      ...READ_ONLY.account,
      ...(declared.account ?? []),
      ...(options.knownAttributes?.account ?? []),
    ]),
    contact: new Set([
      ...COLUMN_FIELDS.contact,
      ...READ_ONLY.contact,
      ...(declared.contact ?? []),
      ...(options.knownAttributes?.contact ?? []),
    ]),
  };

  // 1. What the pipeline writes: known to every expression (a later step reads what an earlier one
  // wrote; order is the run engine's business), and never a reserved column.
  const write = (name: string, inForeach: boolean, path: Path) => {
    const dot = name.indexOf('.');
    const entity: EntityType =
      dot < 0 ? (inForeach ? 'contact' : 'account') : (name.slice(0, dot) as EntityType);
    const field = dot < 0 ? name : name.slice(dot + 1);
    if (RESERVED_FIELDS.has(field)) {
      problems.push(
        new SpecError(
          path,
          `"${field}" is a column Sluice manages (${[...RESERVED_FIELDS].join(', ')}); a pipeline cannot write it. Write another field name`,
        ),
      );
      return;
    }
    known[entity].add(field);
  };
  const writeMapping = (m: OutputMappingSpec | undefined, inForeach: boolean, path: Path) => {
    for (const name of Object.keys(m ?? {})) write(name, inForeach, [...path, name]);
  };
  const visitWrites = (steps: StepSpec[], base: Path, inForeach: boolean) => {
    steps.forEach((s, i) => {
      const p = [...base, i];
      switch (s.kind) {
        case 'waterfall':
          s.fields.forEach((f, j) => {
            write(f, inForeach, [...p, 'fields', j]);
          });
          s.providers.forEach((pr, j) => {
            writeMapping(pr.output, inForeach, [...p, 'providers', j, 'output']);
          });
          break;
        case 'formula':
          for (const f of Object.keys(s.fields)) write(f, inForeach, [...p, 'fields', f]);
          break;
        case 'ai':
        case 'http':
          writeMapping(s.output, inForeach, [...p, 'output']);
          for (const f of Object.keys(s.contacts?.fields ?? {}))
            write(f.includes('.') ? f : `contact.${f}`, true, [...p, 'contacts', 'fields', f]);
          break;
        case 'foreach':
          visitWrites(s.steps, [...p, 'steps'], true);
          break;
      }
    });
  };
  visitWrites(spec.steps, ['steps'], false);

  // 2. What the pipeline reads.
  const checkRefs = (
    expr: Expr,
    source: string,
    path: Path,
    inForeach: boolean,
    contextNames?: readonly string[],
  ) => {
    const seen = new Set<string>();
    for (const ref of fieldRefs(expr)) {
      if (ref.field === undefined) continue;
      const key = `${ref.root}.${ref.field}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const offset = Math.max(0, source.indexOf(key));
      if (ref.root === 'account' || (ref.root === 'contact' && inForeach)) {
        const entity = ref.root as EntityType;
        if (!known[entity].has(ref.field))
          problems.push(
            new SpecError(
              path,
              `unknown field "${key}"${didYouMean(
                key,
                [...known[entity]].map((f) => `${ref.root}.${f}`),
              )}: not ${entity === 'account' ? 'an account' : 'a contact'} column, not written by any step of this pipeline, not declared under attributes.${entity}`,
              offset,
            ),
          );
      } else if (ref.root === 'contact' && !inForeach) {
        problems.push(
          new SpecError(path, `"${key}" reads a contact, but this step is not inside a foreach step`, offset),
        );
      } else if (ref.root === 'context' && contextNames && !contextNames.includes(ref.field)) {
        problems.push(
          new SpecError(
            path,
            `unknown context "${ref.field}"${didYouMean(ref.field, contextNames)}; this step's context calls: ${contextNames.join(', ') || '(none)'}`,
            offset,
          ),
        );
      }
    }
  };
  // Syntax errors are collected too (compilation reports the first per step; this reports them all).
  const expression = (
    source: string | undefined,
    path: Path,
    roots: readonly string[],
    inForeach: boolean,
  ) => {
    if (source === undefined) return;
    try {
      checkRefs(
        at(path, source, () => parseExpression(source, roots)),
        source,
        path,
        inForeach,
      );
    } catch (err) {
      if (err instanceof SpecError) problems.push(err);
      else throw err;
    }
  };
  const templateExprs = (t: TemplateTree): Expr[] => {
    if (t instanceof Template) return t.parts.filter((x): x is Expr => typeof x !== 'string');
    if (Array.isArray(t)) return t.flatMap(templateExprs);
    if (t && typeof t === 'object') return Object.values(t).flatMap(templateExprs);
    return [];
  };
  const template = (
    source: unknown,
    path: Path,
    roots: readonly string[],
    inForeach: boolean,
    options: { tree?: boolean; header?: boolean; url?: boolean; contextNames?: readonly string[] } = {},
  ) => {
    if (source === undefined) return;
    const text = typeof source === 'string' && !options.tree ? source : JSON.stringify(source);
    try {
      const parts = at(path, text, () =>
        options.header || options.url
          ? (options.url ? parseUrlTemplate : parseHeaderTemplate)(source as string, roots).parts.filter(
              (x): x is Expr => typeof x === 'object' && x !== null && !('secret' in x),
            )
          : templateExprs(
              options.tree ? parseTemplateTree(source, roots) : parseTemplate(source as string, roots),
            ),
      );
      const shown = typeof source === 'string' ? source : text;
      for (const e of parts) checkRefs(e, shown, path, inForeach, options.contextNames);
    } catch (err) {
      if (err instanceof SpecError) problems.push(err);
      else throw err;
    }
  };
  const callInputs = (c: CallSpec, path: Path, roots: readonly string[], inForeach: boolean) => {
    for (const [key, value] of Object.entries(c.input ?? {}))
      template(value, [...path, 'input', key], roots, inForeach, { tree: true });
  };
  const confidence = (v: number | string | undefined, path: Path, inForeach: boolean) => {
    if (typeof v === 'string') expression(v, path, ROOTS.output, inForeach);
  };
  const mappingConfidence = (m: OutputMappingSpec | undefined, path: Path, inForeach: boolean) => {
    for (const [name, v] of Object.entries(m ?? {}))
      if (typeof v !== 'string') confidence(v.confidence, [...path, name, 'confidence'], inForeach);
  };

  // 3. Output paths against the declared output.
  const outputPaths = (
    m: OutputMappingSpec | undefined,
    schema: JsonSchema | undefined,
    what: string,
    path: Path,
  ) => {
    if (!schema) return;
    for (const [name, v] of Object.entries(m ?? {})) {
      const raw = typeof v === 'string' ? v : v.path;
      let segs: PathSegment[];
      try {
        segs = parseJsonPath(raw);
      } catch {
        continue; // compilation reports it
      }
      const problem = pathProblem(schema, segs);
      if (problem)
        problems.push(
          new SpecError(
            typeof v === 'string' ? [...path, name] : [...path, name, 'path'],
            `${what} has no "${problem.missing}" at "${raw}"${didYouMean(problem.missing, problem.known)}; it has: ${problem.known.join(', ') || '(nothing)'}`,
          ),
        );
    }
  };
  // `contacts:` reads a list at `from`, then each contact field at a path inside one item of it.
  const contactPaths = (
    c: { from: string; fields: Record<string, string> },
    schema: JsonSchema,
    what: string,
    path: Path,
  ) => {
    let segs: PathSegment[];
    try {
      segs = parseJsonPath(c.from);
    } catch {
      return; // compilation reports it
    }
    const problem = pathProblem(schema, segs);
    if (problem) {
      problems.push(
        new SpecError(
          [...path, 'from'],
          `${what} has no "${problem.missing}" at "${c.from}"${didYouMean(problem.missing, problem.known)}; it has: ${problem.known.join(', ') || '(nothing)'}`,
        ),
      );
      return;
    }
    const list = schemaAt(schema, segs);
    const items = list && (Array.isArray(list.items) ? list.items[0] : list.items);
    if (!items) return;
    for (const [name, raw] of Object.entries(c.fields)) {
      let fieldSegs: PathSegment[];
      try {
        fieldSegs = parseJsonPath(raw);
      } catch {
        continue;
      }
      const missing = pathProblem(items, fieldSegs);
      if (missing)
        problems.push(
          new SpecError(
            [...path, 'fields', name],
            `an item of "${c.from}" has no "${missing.missing}" at "${raw}"${didYouMean(missing.missing, missing.known)}; it has: ${missing.known.join(', ') || '(nothing)'}`,
          ),
        );
    }
  };
  const operationOutput = (provider: string, operation: string): JsonSchema | undefined => {
    const op = options.providers.find((p) => p.id === provider)?.operations[operation];
    if (!op) return undefined;
    try {
      return z.toJSONSchema(op.output, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
    } catch {
      return undefined;
    }
  };

  const visit = (steps: StepSpec[], base: Path, inForeach: boolean) => {
    steps.forEach((s, i) => {
      const p = [...base, i];
      expression(s.when, [...p, 'when'], ROOTS.record, inForeach);
      switch (s.kind) {
        case 'waterfall':
          s.providers.forEach((pr, j) => {
            const pp = [...p, 'providers', j];
            callInputs(pr, pp, ROOTS.record, inForeach);
            expression(pr.when, [...pp, 'when'], ROOTS.record, inForeach);
            confidence(pr.confidence, [...pp, 'confidence'], inForeach);
            expression(pr.verified_when, [...pp, 'verified_when'], ROOTS.output, inForeach);
            mappingConfidence(pr.output, [...pp, 'output'], inForeach);
            outputPaths(
              pr.output,
              operationOutput(pr.provider, pr.operation),
              `the output of ${pr.provider} ${pr.operation}`,
              [...pp, 'output'],
            );
          });
          if (s.validate) {
            callInputs(s.validate, [...p, 'validate'], ROOTS.output, inForeach);
            expression(s.validate.accept, [...p, 'validate', 'accept'], ROOTS.output, inForeach);
          }
          break;
        case 'ai': {
          const names = Object.keys(s.context ?? {});
          for (const [name, c] of Object.entries(s.context ?? {}))
            callInputs(c, [...p, 'context', name], ROOTS.record, inForeach);
          template(s.system, [...p, 'system'], ROOTS.ai, inForeach, { contextNames: names });
          template(s.prompt, [...p, 'prompt'], ROOTS.ai, inForeach, { contextNames: names });
          confidence(s.confidence, [...p, 'confidence'], inForeach);
          mappingConfidence(s.output, [...p, 'output'], inForeach);
          outputPaths(s.output, s.schema as JsonSchema, `the answer schema of step "${s.id}"`, [
            ...p,
            'output',
          ]);
          if (s.contacts) {
            // `from: context.<name>…` reads a context call's output, anything else the answer.
            const fromContext = /^(\$\.)?context[.[]/.test(s.contacts.from);
            const contextSchema: JsonSchema = {
              type: 'object',
              properties: {
                context: {
                  type: 'object',
                  properties: Object.fromEntries(
                    Object.entries(s.context ?? {}).map(([name, c]) => [
                      name,
                      // a context call narrowed by its own `path:` is not checked further
                      (c.path ? undefined : operationOutput(c.provider, c.operation)) ?? {},
                    ]),
                  ),
                },
              },
            };
            contactPaths(
              s.contacts,
              fromContext ? contextSchema : (s.schema as JsonSchema),
              fromContext ? `the context of step "${s.id}"` : `the answer schema of step "${s.id}"`,
              [...p, 'contacts'],
            );
          }
          break;
        }
        case 'http':
          template(s.url, [...p, 'url'], ROOTS.record, inForeach, { url: true });
          for (const [k, v] of Object.entries(s.headers ?? {}))
            template(v, [...p, 'headers', k], ROOTS.record, inForeach, { header: true });
          template(s.body, [...p, 'body'], ROOTS.record, inForeach, { tree: true });
          mappingConfidence(s.output, [...p, 'output'], inForeach);
          break;
        case 'formula':
          for (const [name, src] of Object.entries(s.fields))
            expression(src, [...p, 'fields', name], ROOTS.record, inForeach);
          break;
        case 'foreach':
          expression(s.where, [...p, 'where'], ROOTS.record, true);
          visit(s.steps, [...p, 'steps'], true);
          break;
      }
    });
  };
  visit(spec.steps, ['steps'], false);
  return problems;
}

/** The subset of JSON Schema the path check reads. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema | JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/** The schema at `segs`, or undefined where the schema does not say (free objects, unions). */
function schemaAt(schema: JsonSchema, segs: readonly PathSegment[]): JsonSchema | undefined {
  if (!schema || typeof schema !== 'object') return undefined;
  if (!segs.length) return schema;
  if (schema.anyOf ?? schema.oneOf) return undefined;
  const [seg, ...rest] = segs;
  if (typeof seg === 'number' || seg === '*') {
    const items = Array.isArray(schema.items) ? schema.items[0] : schema.items;
    return items ? schemaAt(items, rest) : undefined;
  }
  const next = schema.properties?.[seg!];
  return next ? schemaAt(next, rest) : undefined;
}

/**
 * The first key of `segs` the schema does not have, with the keys it has there; undefined when the
 * path can exist (or the schema does not say: free objects, `unknown`, a provider's raw JSON).
 */
function pathProblem(
  schema: JsonSchema,
  segs: readonly PathSegment[],
): { missing: string; known: string[] } | undefined {
  if (!segs.length || !schema || typeof schema !== 'object') return undefined;
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches?.length) {
    const results = branches.map((b) => pathProblem(b, segs));
    return results.some((r) => r === undefined) ? undefined : results[0];
  }
  const [seg, ...rest] = segs;
  if (typeof seg === 'number' || seg === '*') {
    const items = Array.isArray(schema.items) ? schema.items[0] : schema.items;
    return items ? pathProblem(items, rest) : undefined;
  }
  const props = schema.properties;
  if (!props) return undefined;
  const next = props[seg!];
  if (next) return pathProblem(next, rest);
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) return undefined;
  return { missing: seg!, known: Object.keys(props) };
}
