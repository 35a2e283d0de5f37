import pg from 'pg';
import type { Db, Queryable, QueryResult, SessionLock } from './db.ts';
import { refuseTransactionPooler } from './pooler-check.ts';
import { preparedName } from './prepared.ts';

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
      const r = await client.query({
        name: preparedName(text),
        text,
        values: params as unknown[] | undefined,
        types: typeParsers,
      });
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
  };
}

/** Serialization failure and deadlock: the statement or transaction was rolled back and may simply run again. */
const RETRY_IN_PLACE = new Set(['40001', '40P01']);
const RETRIES_IN_PLACE = 4;

/** Runs `fn` again (a few times, short jittered pauses) when Postgres rolled it back for a conflict. */
async function retryInPlace<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= RETRIES_IN_PLACE || typeof code !== 'string' || !RETRY_IN_PLACE.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 5 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

/** `sluice` (or `sluice:<schema>`): lets an operator (or a test) see and target Sluice's connections. */
export function applicationNameFor(schema: string): string {
  return (schema === 'public' ? 'sluice' : `sluice:${schema}`).slice(0, 63);
}

/** A checked-out client whose connection drops emits 'error'; unheard, that would crash the process. */
const ignoreClientError = () => {};

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
  const settings = {
    connectionString: options.connectionString,
    options: schema === 'public' ? undefined : `-c search_path="${schema}"`,
    application_name: applicationNameFor(schema),
    // A server that is down answers at once (refused); one that hangs must not hang Sluice with it.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  };
  const pool = new pg.Pool({ ...settings, max: options.max ?? 10 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  try {
    await refuseTransactionPooler(pool, describeUrl(options.connectionString));
    if (schema !== 'public') await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const base = wrap(pool);
  return {
    pool,
    backend: 'postgres',
    target: describeUrl(options.connectionString),
    schema,
    query: (text, params) => retryInPlace(() => base.query(text, params)),
    exec: base.exec,
    transaction: (fn) =>
      retryInPlace(async () => {
        const client = await pool.connect();
        client.on('error', ignoreClientError);
        let broken: unknown;
        try {
          await client.query('BEGIN');
          const result = await fn(wrap(client));
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch((rollback: unknown) => {
            broken = rollback;
          });
          throw err;
        } finally {
          client.off('error', ignoreClientError);
          // A client whose connection failed is discarded, not handed to the next caller.
          client.release(broken instanceof Error ? broken : undefined);
        }
      }),
    holdSessionLock: (space, key) => holdSessionLock(settings, space, key),
    close: () => pool.end(),
  };
}

/**
 * A session-level advisory lock on a client outside the pool (a pooled connection goes back to other
 * callers; this one must stay with the lock). keepAlive: a peer that vanishes is noticed by TCP.
 */
async function holdSessionLock(
  settings: pg.ClientConfig,
  space: number,
  key: number,
): Promise<SessionLock | undefined> {
  const client = new pg.Client(settings);
  let released = false;
  let markLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => {
    markLost = resolve;
  });
  const onGone = () => {
    if (!released) markLost();
  };
  client.on('error', onGone);
  client.on('end', onGone);
  try {
    await client.connect();
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [
      space,
      key,
    ]);
    if (!r.rows[0]?.ok) {
      released = true;
      await client.end();
      return undefined;
    }
  } catch (err) {
    released = true;
    await client.end().catch(() => {});
    throw err;
  }
  return {
    lost,
    async release() {
      if (released) return;
      released = true;
      // ending the session releases the lock with it
      await client.end().catch(() => {});
    },
  };
}
