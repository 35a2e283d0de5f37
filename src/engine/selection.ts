import type { Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { closest, didYouMean } from '../pipelines/did-you-mean.ts';
import { COLUMN_FIELDS, ENTITY_TABLE, type EntityType } from '../records/record-fields.ts';

/** Which accounts a batch runs on (`sluice run --where/--limit/--ids`). */
export interface AccountSelection {
  /** Filter such as `state=CA and (segment!=private or city in (Richmond, Norfolk))`; see parseWhere. */
  where?: string;
  limit?: number;
  ids?: number[];
}

/**
 * A parsed `--where` filter. Every node keeps the 1-based column where it starts, for messages.
 *
 *   expr      := or
 *   or        := and ('or' and)*
 *   and       := not ('and' not)*
 *   not       := 'not' not | '(' expr ')' | condition
 *   condition := field ('=' | '!=' | '<' | '>' | '<=' | '>=' | '~') value
 *              | field ['not'] 'like' value
 *              | field ['not'] 'in' '(' value (',' value)* ')'
 *              | field 'is' ['not'] 'empty'
 *   value     := 'text' | "text" | a bare word (letters, digits and . _ - @ / : + %)
 *
 * Keywords (and, or, not, in, like, is, empty) are case-insensitive; so are comparisons of text.
 */
export type WhereNode =
  | { kind: 'and' | 'or'; left: WhereNode; right: WhereNode; column: number }
  | { kind: 'not'; arg: WhereNode; column: number }
  | {
      kind: 'compare';
      field: string;
      column: number;
      op: '=' | '!=' | '<' | '>' | '<=' | '>=' | '~' | 'like' | 'not like';
      value: string;
    }
  | { kind: 'in'; field: string; column: number; values: string[]; negated: boolean }
  | { kind: 'empty'; field: string; column: number; negated: boolean };

/** A `--where` that cannot be read, or names an unknown field: exit code 2, with the column. */
export class WhereError extends ConfigError {
  readonly details: { where: string; column: number; field?: string; suggestions?: string[] };
  constructor(
    where: string,
    column: number,
    message: string,
    extra: { field?: string; suggestions?: string[] } = {},
  ) {
    const caret = `\n  ${where}\n  ${' '.repeat(Math.max(0, column - 1))}^`;
    super(`--where: ${message} (column ${column})${caret}\n${WHERE_HELP}`, { exitCode: 2 });
    this.details = { where, column, ...extra };
  }
}

const WHERE_HELP =
  'Write conditions like state=VA, segment!=private, employees>=50, city in (Richmond, Norfolk), ' +
  "name like '%golf%', phone is empty; combine them with and, or, not and parentheses; quote values with spaces.";

interface Token {
  kind: 'word' | 'string' | 'op' | 'end';
  text: string;
  /** 1-based column. */
  column: number;
}

const OPS = ['<=', '>=', '!=', '<>', '=', '<', '>', '~', '(', ')', ','];
const BARE = /[A-Za-z0-9_.\-@/:+%*]/;

function tokenize(where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < where.length) {
    const c = where[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '"' || c === "'") {
      let text = '';
      i++;
      while (i < where.length && where[i] !== c) {
        if (where[i] === '\\' && i + 1 < where.length) i++;
        text += where[i++];
      }
      if (i >= where.length) throw new WhereError(where, start + 1, `the quote ${c} is never closed`);
      i++;
      tokens.push({ kind: 'string', text, column: start + 1 });
      continue;
    }
    const op = OPS.find((o) => where.startsWith(o, i));
    if (op) {
      i += op.length;
      tokens.push({ kind: 'op', text: op === '<>' ? '!=' : op, column: start + 1 });
      continue;
    }
    if (BARE.test(c)) {
      while (i < where.length && BARE.test(where[i]!)) i++;
      tokens.push({ kind: 'word', text: where.slice(start, i), column: start + 1 });
      continue;
    }
    throw new WhereError(where, start + 1, `unexpected character "${c}"`);
  }
  tokens.push({ kind: 'end', text: '', column: where.length + 1 });
  return tokens;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'like', 'is', 'empty']);
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Parser {
  private i = 0;
  constructor(
    private readonly where: string,
    private readonly tokens: Token[],
  ) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    return this.tokens[this.i++] ?? this.tokens.at(-1)!;
  }
  private isWord(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'word' && t.text.toLowerCase() === word;
  }
  private isOp(op: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === op;
  }
  private fail(t: Token, message: string): never {
    throw new WhereError(this.where, t.column, message);
  }
  private describe(t: Token): string {
    if (t.kind === 'end') return 'the end of the filter';
    return t.kind === 'string' ? `'${t.text}'` : `"${t.text}"`;
  }

  parseAll(): WhereNode {
    if (this.peek().kind === 'end') this.fail(this.peek(), 'the filter is empty');
    const e = this.or();
    const t = this.peek();
    if (t.kind !== 'end') {
      const hint =
        t.kind === 'word' && !KEYWORDS.has(t.text.toLowerCase())
          ? ' (join conditions with and/or; quote a value that has spaces)'
          : '';
      this.fail(t, `expected and, or or the end of the filter, found ${this.describe(t)}${hint}`);
    }
    return e;
  }
  private or(): WhereNode {
    let left = this.and();
    while (this.isWord('or')) {
      const t = this.next();
      left = { kind: 'or', left, right: this.and(), column: t.column };
    }
    return left;
  }
  private and(): WhereNode {
    let left = this.not();
    while (this.isWord('and')) {
      const t = this.next();
      left = { kind: 'and', left, right: this.not(), column: t.column };
    }
    return left;
  }
  private not(): WhereNode {
    if (this.isWord('not')) {
      const t = this.next();
      return { kind: 'not', arg: this.not(), column: t.column };
    }
    if (this.isOp('(')) {
      const open = this.next();
      const e = this.or();
      if (!this.isOp(')'))
        this.fail(
          this.peek(),
          `expected ")" closing the "(" at column ${open.column}, found ${this.describe(this.peek())}`,
        );
      this.next();
      return e;
    }
    return this.condition();
  }
  private value(after: string): string {
    const t = this.next();
    if (t.kind === 'string') return t.text;
    if (t.kind === 'word' && !KEYWORDS.has(t.text.toLowerCase())) return t.text;
    return this.fail(t, `expected a value after ${after}, found ${this.describe(t)}`);
  }
  private condition(): WhereNode {
    const f = this.next();
    if (f.kind !== 'word' || KEYWORDS.has(f.text.toLowerCase()))
      this.fail(f, `expected a field name, found ${this.describe(f)}`);
    if (!FIELD.test(f.text))
      this.fail(f, `"${f.text}" is not a field name (letters, digits and _, starting with a letter)`);
    const field = f.text.toLowerCase();
    const column = f.column;
    const t = this.peek();
    if (t.kind === 'op' && ['=', '!=', '<', '>', '<=', '>=', '~'].includes(t.text)) {
      this.next();
      const op = t.text as '=' | '!=' | '<' | '>' | '<=' | '>=' | '~';
      return { kind: 'compare', field, column, op, value: this.value(`"${field}${op}"`) };
    }
    if (this.isWord('is')) {
      this.next();
      const negated = this.isWord('not');
      if (negated) this.next();
      if (!this.isWord('empty'))
        this.fail(
          this.peek(),
          `expected "empty" after "is${negated ? ' not' : ''}", found ${this.describe(this.peek())}`,
        );
      this.next();
      return { kind: 'empty', field, column, negated };
    }
    const negated = this.isWord('not') && (this.isWord('in', 1) || this.isWord('like', 1));
    if (negated) this.next();
    if (this.isWord('like')) {
      this.next();
      return { kind: 'compare', field, column, op: negated ? 'not like' : 'like', value: this.value('like') };
    }
    if (this.isWord('in')) {
      this.next();
      if (!this.isOp('('))
        this.fail(this.peek(), `expected "(" after in, found ${this.describe(this.peek())}`);
      this.next();
      const values = [this.value('"("')];
      while (this.isOp(',')) {
        this.next();
        values.push(this.value('","'));
      }
      if (!this.isOp(')'))
        this.fail(
          this.peek(),
          `expected "," or ")" in the in (...) list, found ${this.describe(this.peek())}`,
        );
      this.next();
      return { kind: 'in', field, column, values, negated };
    }
    return this.fail(
      t,
      `expected an operator (=, !=, <, >, <=, >=, like, in, is empty) after "${f.text}", found ${this.describe(t)}`,
    );
  }
}

/** Parses `--where` (grammar above). Throws WhereError naming the column of the first problem. */
export function parseWhere(where: string): WhereNode {
  return new Parser(where, tokenize(where)).parseAll();
}

/** Every field a filter names, with the column where it is named. */
export function whereFields(node: WhereNode): { field: string; column: number }[] {
  switch (node.kind) {
    case 'and':
    case 'or':
      return [...whereFields(node.left), ...whereFields(node.right)];
    case 'not':
      return whereFields(node.arg);
    default:
      return [{ field: node.field, column: node.column }];
  }
}

/** Columns of each entity a filter may name (besides attributes). */
export const FILTER_COLUMNS: Record<EntityType, readonly string[]> = {
  account: ['id', ...COLUMN_FIELDS.account, 'created_at', 'updated_at'],
  contact: ['id', 'account_id', ...COLUMN_FIELDS.contact, 'created_at', 'updated_at'],
};

/**
 * Rejects a filter naming a field that is neither a column nor an attribute any record has (a typo such
 * as `stat!=VA` would otherwise match nothing, or with `!=`, everything), with "did you mean".
 */
export function checkWhereFields(
  where: string,
  node: WhereNode,
  known: Iterable<string>,
  entity: EntityType = 'account',
): void {
  const all = new Set(known);
  const columns: readonly string[] = FILTER_COLUMNS[entity];
  for (const { field, column } of whereFields(node)) {
    if (all.has(field)) continue;
    const hint = didYouMean(field, all);
    const attributes = [...all].filter((f) => !columns.includes(f));
    throw new WhereError(
      where,
      column,
      `unknown field "${field}"${hint}. Columns: ${columns.join(', ')}; attributes: ${attributes.slice(0, 30).join(', ') || '(none yet)'}${attributes.length > 30 ? ', …' : ''}`,
      { field, suggestions: closest(field, all) },
    );
  }
}

/** Every field a filter on this entity may name: its columns and the attribute keys stored. */
export async function knownFilterFields(db: Queryable, entity: EntityType): Promise<string[]> {
  const r = await db.query<{ key: string }>(
    `SELECT DISTINCT jsonb_object_keys(attributes) AS key FROM ${ENTITY_TABLE[entity]}`,
  );
  return [...FILTER_COLUMNS[entity], ...r.rows.map((x) => x.key).sort()];
}

/** Parses `where` and checks its fields against the database: the check run before anything is queued. */
export async function validateWhere(
  db: Queryable,
  where: string,
  entity: EntityType = 'account',
): Promise<WhereNode> {
  const node = parseWhere(where);
  checkWhereFields(where, node, await knownFilterFields(db, entity), entity);
  return node;
}

const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * The SQL of a filter over `columns` (fixed identifiers; anything else is an attribute). Every value is
 * a parameter (`p` adds one and returns its placeholder). A condition on a missing value is false (so
 * `not state=VA` and `state!=VA` both keep accounts without a state), never NULL.
 */
export function whereSql(node: WhereNode, columns: ReadonlySet<string>, p: (v: unknown) => string): string {
  const field = (name: string) => (columns.has(name) ? `${name}::text` : `(attributes ->> ${p(name)})`);
  switch (node.kind) {
    case 'and':
      return `(${whereSql(node.left, columns, p)} AND ${whereSql(node.right, columns, p)})`;
    case 'or':
      return `(${whereSql(node.left, columns, p)} OR ${whereSql(node.right, columns, p)})`;
    case 'not':
      return `(NOT ${whereSql(node.arg, columns, p)})`;
    case 'empty': {
      const e = field(node.field);
      return node.negated ? `(coalesce(${e}, '') <> '')` : `(coalesce(${e}, '') = '')`;
    }
    case 'in': {
      const e = field(node.field);
      const list = `${p(node.values.map((v) => v.toLowerCase()))}::text[]`;
      return node.negated
        ? `(NOT (coalesce(lower(${e}), '') = ANY(${list})))`
        : `coalesce(lower(${e}) = ANY(${list}), false)`;
    }
    case 'compare': {
      const e = field(node.field);
      const v = node.value;
      switch (node.op) {
        case '=':
          return `coalesce(lower(${e}) = lower(${p(v)}), false)`;
        case '!=':
          return `(lower(coalesce(${e}, '')) <> lower(${p(v)}))`;
        case '~':
          return `coalesce(${e} ILIKE ${p(`%${escapeLike(v)}%`)}, false)`;
        case 'like':
          return `coalesce(${e} ILIKE ${p(v.replaceAll('*', '%'))}, false)`;
        case 'not like':
          return `(NOT coalesce(${e} ILIKE ${p(v.replaceAll('*', '%'))}, false))`;
        default: {
          // Numbers compare as numbers (values that are not numbers never match); anything else as text.
          if (NUMBER.test(v)) {
            const num = `(CASE WHEN btrim(${e}) ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN btrim(${e})::numeric END)`;
            return `coalesce(${num} ${node.op} ${p(v)}::numeric, false)`;
          }
          return `coalesce(${e} ${node.op} ${p(v)}, false)`;
        }
      }
    }
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const ACCOUNT_COLUMNS = new Set<string>(FILTER_COLUMNS.account);

/**
 * SQL selecting the ids of the chosen accounts, with placeholders numbered from `firstParam`.
 * Column names come from a fixed list; everything the user typed is a parameter.
 */
export function selectAccountsSql(
  selection: AccountSelection,
  firstParam: number,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  const clauses: string[] = [];
  if (selection.ids && selection.ids.length > 0) clauses.push(`id = ANY(${p(selection.ids)}::bigint[])`);
  if (selection.where) clauses.push(whereSql(parseWhere(selection.where), ACCOUNT_COLUMNS, p));
  const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
  const limit = selection.limit !== undefined ? `LIMIT ${p(selection.limit)}` : '';
  return { text: `SELECT id FROM accounts ${where} ORDER BY id ${limit}`, params };
}

/** Of `ids`, those no account has (`--ids 1,2,99999`): a typo is an error, never a smaller batch. */
export async function unknownAccountIds(db: Queryable, ids: readonly number[]): Promise<number[]> {
  if (!ids.length) return [];
  const r = await db.query<{ id: string }>(
    `SELECT x::text AS id FROM unnest($1::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = x) ORDER BY x`,
    [ids],
  );
  return r.rows.map((x) => Number(x.id));
}
