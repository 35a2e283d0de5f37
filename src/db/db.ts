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
  close(): Promise<void>;
}
