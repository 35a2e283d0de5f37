import pg from 'pg';
import type { Db, Queryable, QueryResult } from './db.ts';

/** int8 (counts, ids) and numeric (costs) as JS numbers, as PGlite gives them. */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number.parseInt(v, 10);
    if (oid === 1700) return (v: string) => Number.parseFloat(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PostgresDbOptions {
  connectionString: string;
  /** Schema to create and use instead of `public` (test isolation). */
  schema?: string;
  /** Pool size; default 10. */
  max?: number;
}

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async exec(sql: string) {
      await client.query(sql);
    },
    async query<T>(text: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await client.query({ text, values: params as unknown[] | undefined, types: typeParsers });
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
  };
}

/** Connection target without the password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres (unparseable DATABASE_URL)';
  }
}

export async function openPostgresDb(options: PostgresDbOptions): Promise<Db & { pool: pg.Pool }> {
  const schema = options.schema ?? 'public';
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    options: schema === 'public' ? undefined : `-c search_path="${schema}"`,
  });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  if (schema !== 'public') await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  else await pool.query('SELECT 1');
  const base = wrap(pool);
  return {
    pool,
    backend: 'postgres',
    target: describeUrl(options.connectionString),
    schema,
    query: base.query,
    exec: base.exec,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
