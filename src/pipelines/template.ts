import { type Expr, ExpressionError, evaluate, parseExpression } from './expression.ts';

/**
 * `{{ expression }}` templates for URLs, headers, prompts and provider inputs. A template that is
 * exactly one `{{ }}` keeps the value's type (a number stays a number, a list stays a list);
 * anything else renders to a string.
 */
export class Template {
  constructor(
    readonly source: string,
    readonly parts: (string | Expr)[],
    /** True when the template is one `{{ }}` and nothing else. */
    readonly single: boolean,
  ) {}
}

const isBlank = (v: unknown) =>
  v === null ||
  v === undefined ||
  (typeof v === 'string' && v.trim() === '') ||
  (Array.isArray(v) && !v.length);

export function parseTemplate(source: string, roots: readonly string[]): Template {
  const parts: (string | Expr)[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      parts.push(source.slice(i));
      break;
    }
    if (open > i) parts.push(source.slice(i, open));
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new ExpressionError('"{{" without a closing "}}"', open);
    const inner = source.slice(open + 2, close);
    try {
      parts.push(parseExpression(inner, roots));
    } catch (err) {
      if (err instanceof ExpressionError) throw new ExpressionError(err.message, open + 2 + err.offset);
      throw err;
    }
    i = close + 2;
  }
  const single = parts.length === 1 && typeof parts[0] !== 'string';
  return new Template(source, parts, single);
}

export interface RenderResult {
  value: unknown;
  /** True when any `{{ }}` evaluated to null/empty: a required input is then "missing". */
  missing: boolean;
}

function stringify(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function renderTemplate(t: Template, scope: Readonly<Record<string, unknown>>): RenderResult {
  if (t.single) {
    const value = evaluate(t.parts[0] as Expr, scope);
    return { value: isBlank(value) ? null : value, missing: isBlank(value) };
  }
  let missing = false;
  let out = '';
  for (const p of t.parts) {
    if (typeof p === 'string') out += p;
    else {
      const v = evaluate(p, scope);
      if (isBlank(v)) missing = true;
      out += stringify(v);
    }
  }
  return { value: out, missing };
}

/** A JSON-like value whose strings are templates (request bodies, provider inputs). */
export type TemplateTree =
  | Template
  | TemplateTree[]
  | { [key: string]: TemplateTree }
  | number
  | boolean
  | null;

export function parseTemplateTree(value: unknown, roots: readonly string[]): TemplateTree {
  if (typeof value === 'string') return parseTemplate(value, roots);
  if (Array.isArray(value)) return value.map((v) => parseTemplateTree(v, roots));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, parseTemplateTree(v, roots)]));
  return (value ?? null) as number | boolean | null;
}

export function renderTemplateTree(t: TemplateTree, scope: Readonly<Record<string, unknown>>): unknown {
  if (t instanceof Template) return renderTemplate(t, scope).value;
  if (Array.isArray(t)) return t.map((x) => renderTemplateTree(x, scope));
  if (t && typeof t === 'object')
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, renderTemplateTree(v, scope)]));
  return t;
}
