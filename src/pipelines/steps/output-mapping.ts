import type { ContactView } from '../../engine/pipeline-types.ts';
import { splitFullName } from '../../normalize/person-name.ts';
import { parseExpression } from '../expression.ts';
import { type PathSegment, parseJsonPath, selectPath } from '../json-path.ts';
import type { ContactsMappingSpec, OutputMappingSpec } from '../schema.ts';
import { at, SpecError } from '../spec-error.ts';
import { type ConfidenceSpec, type FieldTarget, isBlank, ROOTS, resolveConfidence } from './runtime.ts';

/** `field: path` pairs of a pipeline file, compiled. */
export interface CompiledMapping {
  target: FieldTarget;
  /** The name as written in the file, for messages. */
  name: string;
  path: PathSegment[];
  confidence: ConfidenceSpec;
}

/** Splits `contact.email` / `account.segment` / `email` into entity and field. */
export function fieldTarget(name: string, inForeach: boolean, path: (string | number)[]): FieldTarget {
  const dot = name.indexOf('.');
  if (dot < 0) return { entity: inForeach ? 'contact' : 'account', field: name };
  const entity = name.slice(0, dot) as 'account' | 'contact';
  if (entity === 'contact' && !inForeach)
    throw new SpecError(path, `"${name}" is a contact field, but this step is not inside a foreach step`);
  return { entity, field: name.slice(dot + 1) };
}

export function compileConfidence(
  spec: number | string | undefined,
  path: (string | number)[],
): ConfidenceSpec {
  if (spec === undefined || typeof spec === 'number') return spec;
  return at(path, spec, () => parseExpression(spec, ROOTS.output));
}

export function compileMapping(
  spec: OutputMappingSpec | undefined,
  path: (string | number)[],
  inForeach: boolean,
): CompiledMapping[] {
  return Object.entries(spec ?? {}).map(([name, v]) => {
    const p = [...path, name];
    const raw = typeof v === 'string' ? v : v.path;
    return {
      name,
      target: fieldTarget(name, inForeach, p),
      path: at(typeof v === 'string' ? p : [...p, 'path'], raw, () => parseJsonPath(raw)),
      confidence: typeof v === 'string' ? undefined : compileConfidence(v.confidence, [...p, 'confidence']),
    };
  });
}

export interface MappedValue {
  mapping: CompiledMapping;
  value: unknown;
  confidence: number | undefined;
}

/** The non-empty values an output yields for the given mappings. */
export function applyMapping(
  mappings: readonly CompiledMapping[],
  output: unknown,
  vars: Record<string, unknown>,
): MappedValue[] {
  const out: MappedValue[] = [];
  for (const m of mappings) {
    const value = selectPath(output, m.path);
    if (isBlank(value)) continue;
    out.push({ mapping: m, value, confidence: resolveConfidence(m.confidence, { ...vars, output, value }) });
  }
  return out;
}

export interface CompiledContacts {
  from: PathSegment[];
  /** `from` starts with `context.`: read from the step's context calls, not from the answer. */
  fromContext: boolean;
  fields: { field: string; path: PathSegment[] }[];
}

export function compileContacts(
  spec: ContactsMappingSpec | undefined,
  path: (string | number)[],
): CompiledContacts | undefined {
  if (!spec) return undefined;
  return {
    from: at([...path, 'from'], spec.from, () => parseJsonPath(spec.from)),
    fromContext: /^(\$\.)?context[.[]/.test(spec.from),
    fields: Object.entries(spec.fields).map(([name, p]) => ({
      field: name.replace(/^contact\./, ''),
      path: at([...path, 'fields', name], p, () => parseJsonPath(p)),
    })),
  };
}

const nameKey = (c: Record<string, unknown>): string => {
  const full =
    typeof c.full_name === 'string' && c.full_name.trim()
      ? c.full_name
      : [c.first_name, c.last_name].filter((x) => typeof x === 'string' && x).join(' ');
  return full
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
};

/**
 * People in an output that are not yet contacts of the account (same email or same name), as new
 * ContactViews. The ref is `new:<email or name>` as the run engine expects.
 */
export function extractContacts(
  spec: CompiledContacts,
  output: unknown,
  existing: readonly ContactView[],
): ContactView[] {
  const list = selectPath(output, spec.from);
  if (!Array.isArray(list)) return [];
  const seenEmails = new Set(existing.map((c) => String(c.email ?? '').toLowerCase()).filter(Boolean));
  const seenNames = new Set(existing.map(nameKey).filter(Boolean));
  const found: ContactView[] = [];
  for (const item of list) {
    const fields: Record<string, unknown> = {};
    for (const f of spec.fields) {
      const v = selectPath(item, f.path);
      if (!isBlank(v)) fields[f.field] = typeof v === 'string' ? v.trim() : v;
    }
    if (typeof fields.full_name !== 'string' && (fields.first_name || fields.last_name))
      fields.full_name = [fields.first_name, fields.last_name].filter(Boolean).join(' ');
    // Later steps (email lookups) need name parts; a staff list usually gives one "name". The one
    // splitter the import uses too: "Ana Van Dyke" is first "Ana", last "Van Dyke", not "Dyke".
    if (typeof fields.full_name === 'string' && !fields.first_name && !fields.last_name) {
      const split = splitFullName(fields.full_name);
      if (split.firstName && split.lastName) {
        fields.first_name = split.firstName;
        fields.last_name = split.lastName;
      }
    }
    const email = typeof fields.email === 'string' ? fields.email.toLowerCase() : '';
    const key = nameKey(fields);
    if (!email && !key) continue;
    if ((email && seenEmails.has(email)) || (key && seenNames.has(key))) continue;
    if (email) seenEmails.add(email);
    if (key) seenNames.add(key);
    found.push({ id: undefined, ref: `new:${email || key}`, ...fields });
  }
  return found;
}
