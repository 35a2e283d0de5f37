import { type PGlite, parse, protocol } from '@electric-sql/pglite';
import type { QueryResult } from './db.ts';
import { preparedName } from './prepared.ts';

/**
 * Parameterised statements on PGlite in one protocol exchange instead of six. PGlite's `query()` sends
 * Parse, Describe, Bind, Describe, Execute and Sync as six calls into the WebAssembly backend, on this
 * thread, and parses and plans the text every time; `sluice demo` spent most of its database time
 * there (bench/demo.ts). Here a text's parameter and result types are learnt once (Parse + Describe),
 * then each call is one Bind + Execute + Sync, serialised with PGlite's own type serializers and parsed
 * with its own parsers, so values go in and come out exactly as through `query()`:
 * - texts marked with `prepared()` (the gateway's and the run engine's hot statements) become named
 *   prepared statements: parsed and planned once per database, as on server PostgreSQL;
 * - other texts stay unnamed (parsed each time) but still take one exchange.
 * Errors carry `query` and `params` like PGlite's. Statements take PGlite's locks as `query()` does,
 * so they never interleave with a transaction or with pg-boss's statements on the same instance.
 */

/** What a text's Describe told: parameter types and the result's row description (or none). */
interface Shape {
  name: string;
  paramTypes: number[];
  rowDescription: unknown;
}

/** Unnamed shapes kept at most (texts built from constants are a bounded set; this is a guard). */
const MAX_UNNAMED = 2_000;

export interface PgliteExchange {
  /** Runs one statement; `inTransaction`: inside `pglite.transaction()` (its lock is already held). */
  query<T>(text: string, params: readonly unknown[], inTransaction: boolean): Promise<QueryResult<T>>;
  /** Forgets what unnamed texts were told (after DDL: a migration may change a parameter's type). */
  forget(): void;
}

export function pgliteExchange(
  pglite: PGlite,
  extraParsers: Record<number, (v: string) => unknown>,
): PgliteExchange {
  const named = new Map<string, Shape>();
  const unnamed = new Map<string, Shape>();
  const { serialize } = protocol;
  let parsers: Record<number, unknown> | undefined;
  let parsersOf: unknown;

  function mergedParsers() {
    // PGlite may replace its map when it learns array types: merge again then.
    if (parsersOf !== pglite.parsers) {
      parsers = { ...pglite.parsers, ...extraParsers };
      parsersOf = pglite.parsers;
    }
    return parsers as Parameters<typeof parse.parseResults>[1];
  }

  async function exchange(parts: Uint8Array[], sync: boolean) {
    const message = concat(parts);
    return (await pglite.execProtocol(message, { syncToFs: sync })).messages;
  }

  async function describe(text: string, name: string, sync: boolean): Promise<Shape> {
    const messages = await exchange(
      [
        // Closing a statement that does not exist is not an error: a name is always free for Parse.
        ...(name ? [serialize.close({ type: 'S', name })] : []),
        serialize.parse({ name, text, types: [] }),
        serialize.describe({ type: 'S', name }),
        serialize.sync(),
      ],
      sync,
    );
    return {
      name,
      paramTypes: parse.parseDescribeStatementResults(messages),
      rowDescription: messages.find((m) => m.name === 'rowDescription'),
    };
  }

  async function run<T>(text: string, params: readonly unknown[], sync: boolean): Promise<QueryResult<T>> {
    const name = preparedName(text) ?? '';
    const cache = name ? named : unnamed;
    let shape = cache.get(text);
    if (!shape) {
      shape = await describe(text, name, sync);
      if (!name && unnamed.size >= MAX_UNNAMED) unnamed.clear();
      cache.set(text, shape);
    }
    const values = params.map((v, i) => {
      if (v === null || v === undefined) return null;
      const serializer = pglite.serializers[shape.paramTypes[i] ?? 0];
      return serializer ? serializer(v) : String(v);
    });
    const messages = await exchange(
      [
        ...(name ? [] : [serialize.parse({ name: '', text, types: [] })]),
        serialize.bind({ statement: name, values }),
        serialize.execute({}),
        serialize.sync(),
      ],
      sync,
    );
    const withFields = shape.rowDescription
      ? [shape.rowDescription as (typeof messages)[number], ...messages]
      : messages;
    const result = parse.parseResults(withFields, mergedParsers())[0]!;
    return { rows: result.rows as T[], rowCount: result.affectedRows ?? result.rows.length };
  }

  return {
    forget: () => unnamed.clear(),
    async query<T>(text: string, params: readonly unknown[], inTransaction: boolean) {
      try {
        if (!inTransaction) await pglite._checkReady();
        // Outside a transaction: wait for any open one (as `query()` does), then for the statement lock.
        return inTransaction
          ? await pglite._runExclusiveQuery(() => run<T>(text, params, false))
          : await pglite._runExclusiveTransaction(() =>
              pglite._runExclusiveQuery(() => run<T>(text, params, true)),
            );
      } catch (err) {
        if (err && typeof err === 'object' && 'severity' in err)
          Object.assign(err, { query: text, params, queryOptions: undefined });
        throw err;
      }
    },
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
