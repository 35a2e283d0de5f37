import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';
import { type PgliteStatements, pgliteStatements } from './pglite-statements.ts';

/** numeric → JS number (costs, confidences); int8 is already a number in PGlite. */
const parsers = { [types.NUMERIC]: (v: string) => Number.parseFloat(v) };

export interface PgliteDbOptions {
  /** Data directory; `undefined` keeps the database in memory (tests). */
  dataDir?: string;
  /** Schema to create and use instead of `public` (test isolation). */
  schema?: string;
}

/**
 * Statements with parameters go through pglite-statements.ts (one protocol exchange, hot texts
 * prepared once); without parameters too, so a text is described once either way. `exec` (several
 * statements, no parameters: migrations, maintenance) stays PGlite's.
 */
function wrap(q: Pick<PGlite, 'exec'>, statements: PgliteStatements, inTransaction: boolean): Queryable {
  return {
    async exec(sql: string) {
      await q.exec(sql);
      statements.forget();
    },
    query<T>(text: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      return statements.query<T>(text, params ?? [], inTransaction);
    },
  };
}

export async function openPgliteDb(options: PgliteDbOptions = {}): Promise<Db & { pglite: PGlite }> {
  const pglite = new PGlite(options.dataDir);
  await pglite.waitReady;
  const schema = options.schema ?? 'public';
  if (schema !== 'public') {
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"; SET search_path TO "${schema}"`);
  }
  const statements = pgliteStatements(pglite, parsers);
  const base = wrap(pglite, statements, false);
  return {
    pglite,
    backend: 'pglite',
    target: options.dataDir ?? 'memory',
    schema,
    query: base.query,
    exec: base.exec,
    transaction: (fn) => pglite.transaction((tx) => fn(wrap(tx, statements, true))),
    close: () => pglite.close(),
  };
}
