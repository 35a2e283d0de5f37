import type { SecretRef } from '../secrets/secret-ref.ts';
import { secretNameProblem } from '../secrets/secret-ref.ts';
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

/**
 * `{{coalesce(x, 'literal')}}`: the author wrote the fallback, so an empty result is what they asked
 * for, not a missing input (`{{coalesce(account.city, '')}}` in a prompt must not skip the call).
 */
function hasDefault(e: Expr): boolean {
  if (e.type !== 'call' || e.fn !== 'coalesce' || e.args.length < 2) return false;
  const last = e.args.at(-1)!;
  return last.type === 'literal' && last.value !== null;
}

/** `{{ secret.NAME }}`, alone inside its braces. */
const SECRET_EXPR = /^\s*secret\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/;

export function parseTemplate(source: string, roots: readonly string[]): Template {
  const t = parseParts(source, roots, false);
  return new Template(source, t as (string | Expr)[], t.length === 1 && typeof t[0] !== 'string');
}

function parseParts(
  source: string,
  roots: readonly string[],
  secrets: boolean,
): (string | Expr | SecretRef)[] {
  const parts: (string | Expr | SecretRef)[] = [];
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
    const secret = SECRET_EXPR.exec(inner)?.[1];
    if (secret !== undefined || /(^|[^.\w])secret\s*\./.test(inner)) {
      if (!secrets || secret === undefined)
        throw new ExpressionError(
          secrets
            ? '{{secret.NAME}} must stand alone inside its braces (no functions or operators on a secret)'
            : "{{secret.NAME}} is only allowed in the headers of an http step or its URL's query string: URLs, bodies and prompts are cached and stored with what they hold, references are resolved after",
          open + 2,
        );
      const problem = secretNameProblem(secret);
      if (problem) throw new ExpressionError(problem, open + 2);
      parts.push({ secret });
      i = close + 2;
      continue;
    }
    try {
      parts.push(parseExpression(inner, roots));
    } catch (err) {
      if (err instanceof ExpressionError) throw new ExpressionError(err.message, open + 2 + err.offset);
      throw err;
    }
    i = close + 2;
  }
  return parts;
}

/**
 * A header value template: like a template, plus `{{secret.NAME}}` references, which stay
 * references when it is rendered (the http operation resolves them from the environment after the
 * cache key is computed; see src/secrets/secret-ref.ts).
 */
export class HeaderTemplate {
  constructor(
    readonly source: string,
    readonly parts: (string | Expr | SecretRef)[],
  ) {}
}

export function parseHeaderTemplate(source: string, roots: readonly string[]): HeaderTemplate {
  return new HeaderTemplate(source, parseParts(source, roots, true));
}

/**
 * A URL template (the http step's `url`): like a template, plus `{{secret.NAME}}` references in the
 * query string only (`?api_key={{secret.ACME_KEY}}`, for APIs that take their key there). A query
 * string is never shown in messages; a reference in the host or the path is refused (it would be).
 */
export function parseUrlTemplate(source: string, roots: readonly string[]): HeaderTemplate {
  const parts = parseParts(source, roots, true);
  let literal = '';
  for (const p of parts) {
    if (typeof p === 'string') literal += p;
    else if ('secret' in p && !literal.includes('?'))
      throw new ExpressionError(
        '{{secret.NAME}} is only allowed in the headers of an http step or its URL\'s query string (after a literal "?"): a host or a path is shown in messages',
        Math.max(0, source.indexOf('secret')),
      );
  }
  return new HeaderTemplate(source, parts);
}

/** A URL template rendered: text, or text and `{ secret }` references; `missing` as in renderTemplate. */
export function renderUrlTemplate(
  t: HeaderTemplate,
  scope: Readonly<Record<string, unknown>>,
): { value: string | (string | SecretRef)[]; missing: boolean } {
  let missing = false;
  for (const p of t.parts) {
    if (typeof p === 'string' || 'secret' in p) continue;
    if (isBlank(evaluate(p, scope)) && !hasDefault(p)) missing = true;
  }
  return { value: renderHeaderTemplate(t, scope), missing };
}

/** Plain text when the header has no secret, else text and `{ secret }` references in order. */
export function renderHeaderTemplate(
  t: HeaderTemplate,
  scope: Readonly<Record<string, unknown>>,
): string | (string | SecretRef)[] {
  const out: (string | SecretRef)[] = [];
  for (const p of t.parts) {
    const piece = typeof p === 'string' ? p : 'secret' in p ? p : stringify(evaluate(p, scope));
    const last = out.at(-1);
    if (typeof piece === 'string' && typeof last === 'string') out[out.length - 1] = last + piece;
    else out.push(piece);
  }
  if (out.length === 0) return '';
  return out.length === 1 && typeof out[0] === 'string' ? out[0] : out;
}

export interface RenderResult {
  value: unknown;
  /**
   * True when any `{{ }}` evaluated to null/empty: a required input is then "missing". A `{{ }}`
   * ending in a literal fallback (`coalesce(x, '')`) is never missing.
   */
  missing: boolean;
}

function stringify(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function renderTemplate(t: Template, scope: Readonly<Record<string, unknown>>): RenderResult {
  if (t.single) {
    const e = t.parts[0] as Expr;
    const value = evaluate(e, scope);
    const missing = isBlank(value) && !hasDefault(e);
    return { value: missing ? null : value, missing };
  }
  let missing = false;
  let out = '';
  for (const p of t.parts) {
    if (typeof p === 'string') out += p;
    else {
      const v = evaluate(p, scope);
      if (isBlank(v) && !hasDefault(p)) missing = true;
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
