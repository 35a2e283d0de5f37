import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';

/** numeric → JS number (costs, confidences); int8 is already a number in PGlite. */
const parsers = { [types.NUMERIC]: (v: string) => Number.parseFloat(v) };

export interface PgliteDbOptions {
  /** Data directory; `undefined` keeps the database in memory (tests). */
  dataDir?: string;
  /** Schema to create and use instead of `public` (test isolation). */
  schema?: string;
}

function wrap(q: Pick<PGlite, 'query' | 'exec'>): Queryable {
  return {
    async exec(sql: string) {
      await q.exec(sql);
    },
    async query<T>(text: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await q.query<T>(text, params as unknown[] | undefined, { parsers });
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
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
  const base = wrap(pglite);
  return {
    pglite,
    backend: 'pglite',
    target: options.dataDir ?? 'memory',
    schema,
    query: base.query,
    exec: base.exec,
    transaction: (fn) => pglite.transaction((tx) => fn(wrap(tx))),
    close: () => pglite.close(),
  };
}
