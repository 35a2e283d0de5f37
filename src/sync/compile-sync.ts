import { getDestination } from '../crm/registry.ts';
import { type Expr, parseExpression } from '../pipelines/expression.ts';
import { at, SpecError, SpecErrors } from '../pipelines/spec-error.ts';
import { parseTemplate, type Template } from '../pipelines/template.ts';
import { REP_OWNED_FIELDS } from '../records/current-value-rule.ts';
import type { FieldSpec, RouteSpec, SyncSpec, WinPolicy, WriteRule } from './sync-schema.ts';

/** A validated sync definition with its templates and expressions parsed (docs/sync.md). */
export interface CompiledField {
  to: string;
  value: Template | undefined;
  rule: WriteRule;
  nulls: 'skip' | 'clear';
  /** Where a CRM edit goes back to. */
  local: { entity: 'contact' | 'account'; field: string } | undefined;
  wins: WinPolicy;
}

export interface CompiledRoute {
  by: Expr;
  map: Record<string, string>;
  default: string | undefined;
}

export interface SyncDefinition {
  spec: SyncSpec;
  name: string;
  destination: string;
  object: string;
  entity: 'contact' | 'account';
  filter: Expr | undefined;
  fields: CompiledField[];
  parent: { object: string; fields: CompiledField[] } | undefined;
  list: CompiledRoute | undefined;
  owner: CompiledRoute | undefined;
}

export const SCOPE_ROOTS = ['contact', 'account'] as const;

/** Fields reps own: their edit in the CRM wins. */
const CRM_WINS = new Set<string>(REP_OWNED_FIELDS);

function defaultWins(local: string | undefined): WinPolicy {
  if (!local) return 'newest';
  if (CRM_WINS.has(local)) return 'crm';
  // the verifier's word on deliverability beats a hand edit in a CRM
  if (/(_status|deliverability|verified)/.test(local)) return 'sluice';
  return 'newest';
}

function compileFields(specs: FieldSpec[], base: (string | number)[], errors: SpecError[]): CompiledField[] {
  const seen = new Set<string>();
  return specs.flatMap((f, i) => {
    const path = [...base, i];
    try {
      if (seen.has(f.to.toLowerCase()))
        throw new SpecError([...path, 'to'], `field "${f.to}" is mapped twice`);
      seen.add(f.to.toLowerCase());
      if (f.value === undefined && f.rule !== 'never')
        throw new SpecError([...path, 'value'], `required unless rule is "never" (rule is "${f.rule}")`);
      const value =
        f.value === undefined
          ? undefined
          : at([...path, 'value'], f.value, () => parseTemplate(f.value!, SCOPE_ROOTS));
      let local = f.local;
      // `{{contact.phone}}` alone: a two-way edit goes back to contact.phone
      const single = /^\{\{\s*((contact|account)\.[a-z_][a-z0-9_]*)\s*\}\}$/.exec(f.value ?? '');
      if (!local && f.rule === 'two-way') local = single?.[1];
      if (f.rule === 'two-way' && !local)
        throw new SpecError(
          [...path, 'local'],
          'a two-way field needs `local: contact.<field>` (its value is not a single field)',
        );
      const [entity, field] = (local ?? '.').split('.') as ['contact' | 'account', string];
      return [
        {
          to: f.to,
          value,
          rule: f.rule,
          nulls: f.nulls,
          local: local ? { entity, field } : undefined,
          wins: f.wins ?? defaultWins(local ? field : undefined),
        },
      ];
    } catch (err) {
      if (err instanceof SpecError) errors.push(err);
      else throw err;
      return [];
    }
  });
}

function compileRoute(
  r: RouteSpec | undefined,
  path: (string | number)[],
  errors: SpecError[],
): CompiledRoute | undefined {
  if (!r) return undefined;
  try {
    return {
      by: at([...path, 'by'], r.by, () => parseExpression(r.by, SCOPE_ROOTS)),
      map: r.map,
      default: r.default,
    };
  } catch (err) {
    if (err instanceof SpecError) errors.push(err);
    else throw err;
    return undefined;
  }
}

/** Checks names against the destination registry and parses templates; every problem at once. */
export function compileSync(spec: SyncSpec): SyncDefinition {
  const errors: SpecError[] = [];
  let objects: Record<string, { parent?: string }> = {};
  try {
    objects = getDestination(spec.destination).objects;
  } catch (err) {
    errors.push(new SpecError(['destination'], (err as Error).message));
  }
  if (errors.length === 0 && !objects[spec.object])
    errors.push(
      new SpecError(
        ['object'],
        `${spec.destination} has no object "${spec.object}" (it has: ${Object.keys(objects).join(', ')})`,
      ),
    );
  const parentOf = objects[spec.object]?.parent;
  if (spec.parent && parentOf !== spec.parent.object)
    errors.push(
      new SpecError(
        ['parent', 'object'],
        parentOf
          ? `the parent of ${spec.object} is "${parentOf}"`
          : `${spec.destination} ${spec.object} has no parent object`,
      ),
    );
  if (spec.parent && spec.records !== 'contacts')
    errors.push(new SpecError(['parent'], 'a parent (the account) needs records: contacts'));
  const filter = spec.filter === undefined ? undefined : tryAt(['filter'], spec.filter, errors);
  const fields = compileFields(spec.fields, ['fields'], errors);
  const parent = spec.parent
    ? { object: spec.parent.object, fields: compileFields(spec.parent.fields, ['parent', 'fields'], errors) }
    : undefined;
  if (spec.match && !fields.some((f) => f.to === spec.match))
    errors.push(new SpecError(['match'], `the match field "${spec.match}" must be one of the mapped fields`));
  const list = compileRoute(spec.routing?.list, ['routing', 'list'], errors);
  const owner = compileRoute(spec.routing?.owner, ['routing', 'owner'], errors);
  if (errors.length) throw new SpecErrors(errors);
  return {
    spec,
    name: spec.name,
    destination: spec.destination,
    object: spec.object,
    entity: spec.records === 'contacts' ? 'contact' : 'account',
    filter,
    fields,
    parent,
    list,
    owner,
  };
}

function tryAt(path: string[], src: string, errors: SpecError[]): Expr | undefined {
  try {
    return at(path, src, () => parseExpression(src, SCOPE_ROOTS));
  } catch (err) {
    if (err instanceof SpecError) errors.push(err);
    else throw err;
    return undefined;
  }
}

/** Every list a definition can route to (resolved at connect). */
export function routedLists(def: SyncDefinition): string[] {
  if (!def.list) return [];
  return [...new Set([...Object.values(def.list.map), ...(def.list.default ? [def.list.default] : [])])];
}
