/**
 * The database port. Everything in Sluice talks to PostgreSQL through this interface; only the
 * adapters in this folder import `pg` or PGlite. Both backends speak the same SQL dialect and run
 * the same migrations.
 */
export interface QueryResult<T> {
  rows: T[];
  /** Rows affected by INSERT/UPDATE/DELETE, or rows returned by SELECT. */
  rowCount: number;
}

export type DbBackend = 'pglite' | 'postgres';

export interface Queryable {
  /** One parameterised statement. Values are never concatenated into SQL. */
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** Several statements without parameters (migrations, maintenance). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly backend: DbBackend;
  /** Human description for `sluice status`: data dir or connection target (no password). */
  readonly target: string;
  /** Schema all unqualified names resolve to (`public` unless isolated, e.g. in tests). */
  readonly schema: string;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * Inside, use only the `tx` handle (PGlite has a single connection, so the outer handle
   * waits for the transaction to end).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Server Postgres only: takes the session-level advisory lock (`space`, `key`) on a connection of its
   * own, held until `release()` or until that connection is lost (then `lost` resolves). Undefined when
   * another session holds it. PGlite has no such method: one process owns the database.
   */
  holdSessionLock?(space: number, key: number): Promise<SessionLock | undefined>;
  close(): Promise<void>;
}

export interface SessionLock {
  /** Resolves when the lock's connection ended without `release()`: the lock is no longer held. */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}
