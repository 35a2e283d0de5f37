import type pg from 'pg';
import { ConfigError } from '../errors.ts';

/**
 * Refuses a transaction pooler (PgBouncer `pool_mode = transaction`, Supabase's pooler on port 6543):
 * there, consecutive statements of one client may run on different server connections, so what
 * Sluice and pg-boss need from a session — session advisory locks (pg-boss's start-up lock and
 * migrations), `search_path` from the connection options (SLUICE_DB_SCHEMA) — silently breaks.
 *
 * How it tells: client A asks for its backend pid; client B opens a transaction (holding a server
 * connection); A asks again. In session mode (or directly on Postgres) A keeps its own backend, so
 * both answers match and B's differs. A transaction pooler hands A's idle server connection to B,
 * and A gets another one.
 */
export async function refuseTransactionPooler(pool: pg.Pool, target: string): Promise<void> {
  const a = await pool.connect();
  const b = await pool.connect();
  const ignore = () => {};
  a.on('error', ignore);
  b.on('error', ignore);
  let pooled = false;
  try {
    const pid = async (c: pg.PoolClient) =>
      (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const first = await pid(a);
    await b.query('BEGIN');
    const other = await pid(b);
    const second = await pid(a);
    await b.query('COMMIT');
    pooled = first !== second || other === first;
  } finally {
    a.off('error', ignore);
    b.off('error', ignore);
    a.release();
    b.release();
  }
  if (pooled) {
    throw new ConfigError(
      `DATABASE_URL (${target}) goes through a transaction pooler (PgBouncer pool_mode=transaction, or Supabase's pooler on port 6543): Sluice needs one server connection per client session (advisory locks, search_path, pg-boss). Use the session pooler instead (Supabase: the pooler host on port 5432, "Session mode"), a direct connection, or set pool_mode = session in pgbouncer.ini.`,
      { exitCode: 2 },
    );
  }
}
