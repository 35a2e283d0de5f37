import type { Queryable } from '../db/db.ts';
import type { Expr } from '../pipelines/expression.ts';
import { renderTemplate } from '../pipelines/template.ts';
import type { CompiledField, CompiledRoute } from './compile-sync.ts';
import { canonical } from './map-records.ts';

/**
 * `sluice crm pull` reads a CRM's records back through a sync definition's field mappings: the
 * inverse of each field's template, worked out once per field (docs/sync.md "crm pull").
 *
 * - plain `{{contact.email}}`: the value as it is;
 * - `local:` fields (a `never` field such as ClickUp's status → contact.stage): the value as it is;
 * - a text template of fields and literal text (`{{contact.full_name}} - {{contact.title}} |
 *   {{account.name}}`, GoHighLevel's `golf, {{account.segment}}` tags): matched against the text,
 *   each `{{ }}` taking what lies between the literals; a value the template cannot produce, or
 *   one that splits two ways, is reported for that record and nothing of it is taken;
 * - transforms that keep the value: `trim`, `string`; case transforms (`title_case`, `lower`,
 *   `upper`) take the value in the case Sluice already uses for that field when it knows one
 *   (a routing map's keys, values already stored: `High-End` → `high-end`), else as the CRM has it;
 *   `coalesce(x, 'Staff')` reads the fallback as "no value".
 *
 * Anything else cannot be inverted (a scored pick `ranked(...)`, a list rendered as text with
 * `numbered(...)`, arithmetic, conditions) and says why, per field, instead of being skipped
 * silently. Every inverse is checked by rendering the template again with what it read: only
 * values that give back exactly the CRM's text (ignoring case where the template changes it) are
 * taken. Dropdown and label ids never reach this: sessions read them back as option names.
 */
export interface LocalRef {
  entity: 'contact' | 'account';
  field: string;
}

export type InverseKind = 'plain' | 'local' | 'template' | 'constant' | 'none';

export interface FieldInverse {
  to: string;
  kind: InverseKind;
  /** The local fields it fills. */
  locals: LocalRef[];
  /** Why it cannot be read back (`none`) or has nothing to read (`constant`). */
  reason?: string;
  /** Case-transformed fields, whose known spellings `read` should be given. */
  cased: LocalRef[];
}

/** What one remote value gives: local values by `entity.field`, or why it gives nothing. */
export type ReadBack = { values: Map<string, unknown> } | { mismatch: string };

const CASE_FNS = new Set(['lower', 'upper', 'title_case']);
const KEEP_FNS = new Set(['trim', 'string']);
const WHY: Record<string, string> = {
  ranked: 'ranked(...) picks the highest-scored of several fields: which field a value came from is lost',
  numbered: 'numbered(...) renders a list as numbered text: its items cannot be told back into records',
  format_each: 'format_each(...) renders list items into text',
  sort_by: 'sort_by(...) orders a list',
  join: 'join(...) renders a list as text',
  concat: 'concat(...) joins values with nothing between them',
  round: 'round(...) loses digits',
  if: 'if(...) picks one of two values',
};

export const refKey = (r: LocalRef) => `${r.entity}.${r.field}`;

export function pathOf(e: Expr): LocalRef | undefined {
  if (
    e.type === 'member' &&
    e.object.type === 'name' &&
    (e.object.name === 'contact' || e.object.name === 'account') &&
    e.property.type === 'literal' &&
    typeof e.property.value === 'string'
  )
    return { entity: e.object.name, field: e.property.value };
  return undefined;
}

interface Part {
  ref: LocalRef;
  fn?: string;
  fallback?: unknown;
}

function partOf(e: Expr): Part | string {
  const ref = pathOf(e);
  if (ref) return { ref };
  if (e.type === 'call') {
    const arg = e.args[0] ? pathOf(e.args[0]) : undefined;
    if (arg && e.args.length === 1 && (CASE_FNS.has(e.fn) || KEEP_FNS.has(e.fn)))
      return { ref: arg, fn: e.fn };
    const last = e.args[1];
    if (arg && e.fn === 'coalesce' && e.args.length === 2 && last?.type === 'literal')
      return { ref: arg, fallback: last.value };
    return WHY[e.fn] ?? `${e.fn}(...) cannot be read back`;
  }
  if (e.type === 'literal') return 'a constant';
  const fn = callsIn(e).find((f) => WHY[f]);
  return fn ? WHY[fn]! : 'an expression (operators, conditions, indexes) cannot be read back';
}

/** The functions an expression calls, outermost first. */
function callsIn(e: Expr): string[] {
  switch (e.type) {
    case 'call':
      return [e.fn, ...e.args.flatMap(callsIn)];
    case 'member':
      return [...callsIn(e.object), ...callsIn(e.property)];
    case 'list':
      return e.items.flatMap(callsIn);
    case 'unary':
      return callsIn(e.arg);
    case 'binary':
      return [...callsIn(e.left), ...callsIn(e.right)];
    case 'cond':
      return [...callsIn(e.test), ...callsIn(e.then), ...callsIn(e.else)];
    default:
      return [];
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Compiled extends FieldInverse {
  read(remote: unknown, spellings: (ref: LocalRef) => readonly string[]): ReadBack | undefined;
}

/** The inverse of one mapped field. */
export function invertField(f: CompiledField): Compiled {
  const base = { to: f.to, cased: [] as LocalRef[] };
  const direct = (kind: 'plain' | 'local', ref: LocalRef): Compiled => ({
    ...base,
    kind,
    locals: [ref],
    read: (v) => (blank(v) ? undefined : { values: new Map([[refKey(ref), v]]) }),
  });
  const t = f.value;
  const single = t?.single ? pathOf(t.parts[0] as Expr) : undefined;
  if (single) return direct('plain', single);
  if (f.local) return direct('local', f.local);
  if (!t) return { ...base, kind: 'constant', locals: [], reason: 'no value', read: () => undefined };
  const parts: (string | Part)[] = [];
  for (const p of t.parts) {
    if (typeof p === 'string') {
      parts.push(p);
      continue;
    }
    const part = partOf(p);
    if (typeof part === 'string')
      return { ...base, kind: 'none', locals: [], reason: part, read: () => undefined };
    parts.push(part);
  }
  const vars = parts.filter((p): p is Part => typeof p !== 'string');
  if (vars.length === 0)
    return { ...base, kind: 'constant', locals: [], reason: 'constant text', read: () => undefined };
  for (let i = 1; i < parts.length; i++)
    if (typeof parts[i] !== 'string' && typeof parts[i - 1] !== 'string')
      return {
        ...base,
        kind: 'none',
        locals: [],
        reason: 'two values with no text between them cannot be told apart',
        read: () => undefined,
      };
  // the rendered value is trimmed (canonical), so the template's outer whitespace is too
  const literal = parts.map((p, i) =>
    typeof p !== 'string' ? p : i === 0 ? p.trimStart() : i === parts.length - 1 ? p.trimEnd() : p,
  );
  const pattern = (group: string) =>
    new RegExp(`^${literal.map((p) => (typeof p === 'string' ? escapeRegExp(p) : group)).join('')}$`, 's');
  const lazy = pattern('(.*?)');
  const greedy = pattern('(.*)');
  const caseless = vars.some((v) => v.fn && CASE_FNS.has(v.fn));
  const cased = vars.filter((v) => v.fn && CASE_FNS.has(v.fn)).map((v) => v.ref);
  return {
    ...base,
    kind: 'template',
    locals: vars.map((v) => v.ref),
    cased,
    read(remote, spellings) {
      if (blank(remote)) return undefined;
      const text = (Array.isArray(remote) ? remote.map(String).join(', ') : String(remote)).trim();
      const a = lazy.exec(text);
      if (!a) return { mismatch: 'not in the form of the template' };
      const b = greedy.exec(text);
      if (b && b.slice(1).join('\u0000') !== a.slice(1).join('\u0000'))
        return { mismatch: 'splits more than one way' };
      const values = new Map<string, unknown>();
      const scope: Record<'contact' | 'account', Record<string, unknown>> = { contact: {}, account: {} };
      vars.forEach((v, i) => {
        const s = a[i + 1] ?? '';
        let value: unknown = s.trim() === '' ? null : s;
        if (v.fallback !== undefined && s === String(v.fallback)) value = null;
        if (value !== null && v.fn && CASE_FNS.has(v.fn))
          value = spellings(v.ref).find((k) => k.toLowerCase() === s.toLowerCase()) ?? s;
        // the same field twice must read the same
        const key = refKey(v.ref);
        if (values.has(key) && values.get(key) !== value) value = undefined;
        values.set(key, value);
        scope[v.ref.entity][v.ref.field] = value;
      });
      if ([...values.values()].some((v) => v === undefined))
        return { mismatch: 'one field reads two different ways' };
      const again = canonical(renderTemplate(t, scope).value);
      const same = caseless
        ? String(again ?? '').toLowerCase() === text.toLowerCase()
        : String(again ?? '') === text;
      if (!same) return { mismatch: 'reading it back does not give the same text' };
      for (const [k, v] of values) if (v === null) values.delete(k);
      return { values };
    },
  };
}

const blank = (v: unknown) =>
  v === null ||
  v === undefined ||
  (typeof v === 'string' && v.trim() === '') ||
  (Array.isArray(v) && !v.length);

/** The inverses of a definition's fields, plain and local ones first (they win over templates). */
export function invertFields(fields: CompiledField[]): Compiled[] {
  const order: Record<InverseKind, number> = { plain: 0, local: 1, template: 2, constant: 3, none: 4 };
  return fields.map(invertField).sort((a, b) => order[a.kind] - order[b.kind]);
}

/**
 * The spellings Sluice already uses for case-transformed fields: a routing map's keys when it routes
 * by that field, and the values stored for it (at most 1,000).
 */
export async function knownSpellings(
  db: Queryable,
  inverses: FieldInverse[],
  routes: (CompiledRoute | undefined)[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const ref of inverses.flatMap((i) => i.cased)) {
    const key = refKey(ref);
    if (out.has(key)) continue;
    const fromRoutes = routes.flatMap((r) => {
      const by = r ? pathOf(r.by) : undefined;
      return r && by && refKey(by) === key ? Object.keys(r.map) : [];
    });
    const stored = await db.query<{ v: string }>(
      `SELECT DISTINCT value #>> '{}' AS v FROM field_values
       WHERE entity_type = $1 AND field = $2 AND jsonb_typeof(value) = 'string' LIMIT 1000`,
      [ref.entity, ref.field],
    );
    out.set(key, [...new Set([...fromRoutes, ...stored.rows.map((r) => r.v)])]);
  }
  return out;
}
