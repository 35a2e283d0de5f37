import { FUNCTIONS } from './functions.ts';

/**
 * The small, safe expression language of `when`, `formula`, validator `accept` and `{{ }}` templates.
 * No eval: a hand-written parser builds a tree that `evaluate` walks. Grammar (lowest precedence first):
 *
 *   expr    := or ('?' expr ':' expr)?
 *   or      := and (('||' | 'or') and)*
 *   and     := not (('&&' | 'and') not)*
 *   not     := ('!' | 'not') not | compare
 *   compare := sum (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in') sum)?
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/' | '%') unary)*
 *   unary   := '-' unary | postfix
 *   postfix := primary ('.' name | '[' expr ']')*
 *   primary := number | 'string' | "string" | true | false | null | name | name '(' args ')' | '(' expr ')' | '[' list ']'
 *
 * Member access on null/undefined yields null (fields are often missing), `+` concatenates when either
 * side is a string, and comparisons with null are false except `==`/`!=`.
 */
export type Expr =
  | { type: 'literal'; value: unknown }
  | { type: 'name'; name: string }
  | { type: 'member'; object: Expr; property: Expr }
  | { type: 'call'; fn: string; args: Expr[] }
  | { type: 'list'; items: Expr[] }
  | { type: 'unary'; op: '!' | '-'; arg: Expr }
  | { type: 'binary'; op: string; left: Expr; right: Expr }
  | { type: 'cond'; test: Expr; then: Expr; else: Expr };

/** A syntax error with the character offset inside the expression text. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

interface Token {
  kind: 'num' | 'str' | 'name' | 'op' | 'end';
  text: string;
  value?: unknown;
  pos: number;
}

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '+', '-', '*', '/', '%', '(', ')'];
const PUNCT = ['[', ']', ',', '.', '?', ':'];

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c)) {
      while (i < src.length && /[0-9._]/.test(src[i]!)) i++;
      const text = src.slice(start, i);
      const value = Number(text.replaceAll('_', ''));
      if (Number.isNaN(value)) throw new ExpressionError(`bad number "${text}"`, start);
      tokens.push({ kind: 'num', text, value, pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      let out = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\' && i + 1 < src.length) {
          const n = src[i + 1]!;
          out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
        } else out += src[i++];
      }
      if (i >= src.length) throw new ExpressionError('unterminated string', start);
      i++;
      tokens.push({ kind: 'str', text: src.slice(start, i), value: out, pos: start });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_$]/.test(src[i]!)) i++;
      tokens.push({ kind: 'name', text: src.slice(start, i), pos: start });
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i)) ?? PUNCT.find((p) => p === c);
    if (!op) throw new ExpressionError(`unexpected character "${c}"`, start);
    i += op.length;
    tokens.push({ kind: 'op', text: op, pos: start });
  }
  tokens.push({ kind: 'end', text: '', pos: src.length });
  return tokens;
}

const KEYWORDS: Record<string, unknown> = { true: true, false: false, null: null };

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }
  private next(): Token {
    return this.tokens[this.i++]!;
  }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }
  private isWord(text: string): boolean {
    const t = this.peek();
    return t.kind === 'name' && t.text === text;
  }
  private expect(text: string): void {
    const t = this.next();
    if (t.kind !== 'op' || t.text !== text)
      throw new ExpressionError(`expected "${text}" but found ${describe(t)}`, t.pos);
  }

  parseAll(): Expr {
    const e = this.expr();
    const t = this.peek();
    if (t.kind !== 'end') throw new ExpressionError(`unexpected ${describe(t)}`, t.pos);
    return e;
  }

  private expr(): Expr {
    const test = this.or();
    if (!this.isOp('?')) return test;
    this.next();
    const then = this.expr();
    this.expect(':');
    return { type: 'cond', test, then, else: this.expr() };
  }
  private or(): Expr {
    let left = this.and();
    while (this.isOp('||') || this.isWord('or')) {
      this.next();
      left = { type: 'binary', op: '||', left, right: this.and() };
    }
    return left;
  }
  private and(): Expr {
    let left = this.not();
    while (this.isOp('&&') || this.isWord('and')) {
      this.next();
      left = { type: 'binary', op: '&&', left, right: this.not() };
    }
    return left;
  }
  private not(): Expr {
    if (this.isOp('!') || this.isWord('not')) {
      this.next();
      return { type: 'unary', op: '!', arg: this.not() };
    }
    return this.compare();
  }
  private compare(): Expr {
    const left = this.sum();
    const t = this.peek();
    if (t.kind === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      this.next();
      return { type: 'binary', op: t.text, left, right: this.sum() };
    }
    if (this.isWord('in')) {
      this.next();
      return { type: 'binary', op: 'in', left, right: this.sum() };
    }
    if (this.isWord('not') && this.tokens[this.i + 1]?.text === 'in') {
      this.i += 2;
      return { type: 'unary', op: '!', arg: { type: 'binary', op: 'in', left, right: this.sum() } };
    }
    return left;
  }
  private sum(): Expr {
    let left = this.product();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().text;
      left = { type: 'binary', op, left, right: this.product() };
    }
    return left;
  }
  private product(): Expr {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.next().text;
      left = { type: 'binary', op, left, right: this.unary() };
    }
    return left;
  }
  private unary(): Expr {
    if (this.isOp('-')) {
      this.next();
      return { type: 'unary', op: '-', arg: this.unary() };
    }
    return this.postfix();
  }
  private postfix(): Expr {
    let e = this.primary();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const t = this.next();
        if (t.kind !== 'name') throw new ExpressionError(`expected a field name after "."`, t.pos);
        e = { type: 'member', object: e, property: { type: 'literal', value: t.text } };
      } else if (this.isOp('[')) {
        this.next();
        const property = this.expr();
        this.expect(']');
        e = { type: 'member', object: e, property };
      } else return e;
    }
  }
  private primary(): Expr {
    const t = this.next();
    if (t.kind === 'num' || t.kind === 'str') return { type: 'literal', value: t.value };
    if (t.kind === 'name') {
      if (Object.hasOwn(KEYWORDS, t.text)) return { type: 'literal', value: KEYWORDS[t.text] };
      if (this.isOp('(')) {
        if (!Object.hasOwn(FUNCTIONS, t.text))
          throw new ExpressionError(
            `unknown function "${t.text}" (known: ${Object.keys(FUNCTIONS).join(', ')})`,
            t.pos,
          );
        this.next();
        const args = this.isOp(')') ? [] : this.list(')');
        this.expect(')');
        return { type: 'call', fn: t.text, args };
      }
      return { type: 'name', name: t.text };
    }
    if (t.kind === 'op' && t.text === '(') {
      const e = this.expr();
      this.expect(')');
      return e;
    }
    if (t.kind === 'op' && t.text === '[') {
      const items = this.isOp(']') ? [] : this.list(']');
      this.expect(']');
      return { type: 'list', items };
    }
    throw new ExpressionError(`unexpected ${describe(t)}`, t.pos);
  }
  private list(close: string): Expr[] {
    const items = [this.expr()];
    while (this.isOp(',')) {
      this.next();
      if (this.isOp(close)) break;
      items.push(this.expr());
    }
    return items;
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'end of expression' : `"${t.text}"`;
}

/**
 * Parses an expression. `roots` lists the names an expression may start with (e.g. `account`,
 * `contact`); any other bare name is an error, so typos are caught when the pipeline is loaded.
 */
export function parseExpression(src: string, roots: readonly string[]): Expr {
  const expr = new Parser(tokenize(src)).parseAll();
  checkNames(expr, roots, src);
  return expr;
}

function checkNames(e: Expr, roots: readonly string[], src: string): void {
  switch (e.type) {
    case 'name':
      if (!roots.includes(e.name)) {
        const at = src.search(new RegExp(`\\b${e.name.replace(/\$/g, '\\$')}\\b`));
        throw new ExpressionError(
          `unknown name "${e.name}" (an expression here can use: ${roots.join(', ')})`,
          Math.max(0, at),
        );
      }
      return;
    case 'member':
      checkNames(e.object, roots, src);
      checkNames(e.property, roots, src);
      return;
    case 'call':
    case 'list':
      for (const a of e.type === 'call' ? e.args : e.items) checkNames(a, roots, src);
      return;
    case 'unary':
      checkNames(e.arg, roots, src);
      return;
    case 'binary':
      checkNames(e.left, roots, src);
      checkNames(e.right, roots, src);
      return;
    case 'cond':
      checkNames(e.test, roots, src);
      checkNames(e.then, roots, src);
      checkNames(e.else, roots, src);
      return;
    case 'literal':
      return;
  }
}

/** JS-like truthiness, except that an empty array is false (a missing list and an empty one mean the same). */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return Boolean(v);
}

function member(object: unknown, key: unknown): unknown {
  if (object === null || object === undefined) return null;
  if (Array.isArray(object) && typeof key === 'number') return object.at(key) ?? null;
  if (typeof object !== 'object' && typeof object !== 'string') return null;
  const k = String(key);
  // Own properties only: no prototype walking (`constructor`, `__proto__`).
  return Object.hasOwn(object as object, k) ? ((object as Record<string, unknown>)[k] ?? null) : null;
}

function equal(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null)
    return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  const x = typeof a === 'number' || typeof b === 'number' ? Number(a) : String(a);
  const y = typeof a === 'number' || typeof b === 'number' ? Number(b) : String(b);
  if (op === '<') return x < y;
  if (op === '<=') return x <= y;
  if (op === '>') return x > y;
  return x >= y;
}

function arithmetic(op: string, a: unknown, b: unknown): unknown {
  if (op === '+' && (typeof a === 'string' || typeof b === 'string')) return `${a ?? ''}${b ?? ''}`;
  if (a === null || a === undefined || b === null || b === undefined) return null;
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return null;
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      return y === 0 ? null : x / y;
    default:
      return y === 0 ? null : x % y;
  }
}

/** Evaluates a parsed expression against a scope of named values. Never throws on missing data. */
export function evaluate(e: Expr, scope: Readonly<Record<string, unknown>>): unknown {
  switch (e.type) {
    case 'literal':
      return e.value;
    case 'name':
      return Object.hasOwn(scope, e.name) ? (scope[e.name] ?? null) : null;
    case 'member':
      return member(evaluate(e.object, scope), evaluate(e.property, scope));
    case 'list':
      return e.items.map((i) => evaluate(i, scope));
    case 'call':
      return FUNCTIONS[e.fn]!(...e.args.map((a) => evaluate(a, scope)));
    case 'cond':
      return truthy(evaluate(e.test, scope)) ? evaluate(e.then, scope) : evaluate(e.else, scope);
    case 'unary': {
      const v = evaluate(e.arg, scope);
      if (e.op === '!') return !truthy(v);
      return v === null || v === undefined ? null : -Number(v);
    }
    case 'binary': {
      if (e.op === '&&') {
        const l = evaluate(e.left, scope);
        return truthy(l) ? evaluate(e.right, scope) : l;
      }
      if (e.op === '||') {
        const l = evaluate(e.left, scope);
        return truthy(l) ? l : evaluate(e.right, scope);
      }
      const l = evaluate(e.left, scope);
      const r = evaluate(e.right, scope);
      if (e.op === '==') return equal(l, r);
      if (e.op === '!=') return !equal(l, r);
      if (e.op === 'in') {
        if (Array.isArray(r)) return r.some((x) => equal(x, l));
        if (typeof r === 'string') return typeof l === 'string' && r.includes(l);
        return false;
      }
      if (['<', '<=', '>', '>='].includes(e.op)) return compare(e.op, l, r);
      return arithmetic(e.op, l, r);
    }
  }
}

/** A record field an expression reads: `account.website` is `{ root: 'account', field: 'website' }`. */
export interface FieldRef {
  root: string;
  /** Undefined when the root itself is used (`contacts`, `output`) or indexed by an expression. */
  field: string | undefined;
}

/** Every `root` and `root.field` an expression reads (functions' arguments and nested members included). */
export function fieldRefs(e: Expr): FieldRef[] {
  const out: FieldRef[] = [];
  const walk = (x: Expr): void => {
    switch (x.type) {
      case 'name':
        out.push({ root: x.name, field: undefined });
        return;
      case 'member':
        if (
          x.object.type === 'name' &&
          x.property.type === 'literal' &&
          typeof x.property.value === 'string'
        ) {
          out.push({ root: x.object.name, field: x.property.value });
          return;
        }
        walk(x.object);
        walk(x.property);
        return;
      case 'call':
        for (const a of x.args) walk(a);
        return;
      case 'list':
        for (const a of x.items) walk(a);
        return;
      case 'unary':
        walk(x.arg);
        return;
      case 'binary':
        walk(x.left);
        walk(x.right);
        return;
      case 'cond':
        walk(x.test);
        walk(x.then);
        walk(x.else);
        return;
      case 'literal':
        return;
    }
  };
  walk(e);
  return out;
}
