import { PGlite, types } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';
import { type PgliteExchange, pgliteExchange } from './pglite-exchange.ts';

/** numeric → JS number (costs, confidences); int8 is already a number in PGlite. */
const parsers = { [types.NUMERIC]: (v: string) => Number.parseFloat(v) };

export interface PgliteDbOptions {
  /** Data directory; `undefined` keeps the database in memory (tests). */
  dataDir?: string;
  /** Schema to create and use instead of `public` (test isolation). */
  schema?: string;
}

/** What pg-boss is given (fromPglite): PGlite's statements, taking their turns like Sluice's. */
export type PgliteStatements = Pick<PGlite, 'query' | 'exec' | 'listen'>;

const nextTurnOfLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * PGlite runs each statement synchronously (WASM) on this thread and hands its lock to the next
 * waiting statement in a microtask, so with many callers queued (a worker's runs, pg-boss) a chain
 * of statements ran with no turn of the event loop between them: due timers and socket writes
 * waited for all of them. Measured in bench `two-window` (240 calls, PGlite): event-loop delay p99
 * 77 ms, and a request's headers reached its socket up to 214 ms after `fetch()`, so a rate-limited
 * call arrived far from its place. `turns()` runs statements (and whole transactions) one at a time,
 * and once a few ms have gone by since the event loop last turned, the next one starts from
 * `setImmediate`: timers and I/O run in between, so a call leaves within a slice and one statement
 * of its time.
 */
function turns() {
  let tail: Promise<unknown> = Promise.resolve();
  let turnedAt = performance.now();
  // A turn of the loop costs little, but one per statement cost a third of the calls/s (bench
  // overhead, PGlite, 1,000 records: 44 and 44 vs 57 and 105 without turns; sliced 77 and 73 vs
  // 89): statements run back to back for up to a slice.
  const yieldIfDue = async () => {
    if (performance.now() - turnedAt < SLICE_MS) return;
    await nextTurnOfLoop();
    turnedAt = performance.now();
  };
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(yieldIfDue).then(fn);
    tail = run.catch(() => {});
    return run;
  };
}

/** Longest run of statements between two turns of the event loop, ms. */
const SLICE_MS = 4;

/**
 * Sluice's statements go through pglite-exchange.ts (one protocol exchange each, types described once,
 * hot texts prepared once) instead of PGlite's `query()`; `exec` (several statements, no parameters:
 * migrations, maintenance) stays PGlite's, and forgets the described types (DDL may change them).
 */
function wrap(
  q: Pick<PGlite, 'exec'>,
  exchange: PgliteExchange,
  turn: <T>(fn: () => Promise<T>) => Promise<T>,
  inTx: boolean,
): Queryable {
  return {
    async exec(sql: string) {
      await turn(() => q.exec(sql));
      exchange.forget();
    },
    query<T>(text: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      return turn(() => exchange.query<T>(text, params ?? [], inTx));
    },
  };
}

/** Inside a transaction (which holds the turn): statements run as PGlite runs them. */
const inTransaction = <T>(fn: () => Promise<T>): Promise<T> => fn();

export async function openPgliteDb(
  options: PgliteDbOptions = {},
): Promise<Db & { pglite: PGlite; statements: PgliteStatements }> {
  const pglite = new PGlite(options.dataDir);
  await pglite.waitReady;
  const schema = options.schema ?? 'public';
  if (schema !== 'public') {
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"; SET search_path TO "${schema}"`);
  }
  const turn = turns();
  const exchange = pgliteExchange(pglite, parsers);
  const base = wrap(pglite, exchange, turn, false);
  const statements: PgliteStatements = {
    query: (text, params, opts) => turn(() => pglite.query(text, params, opts)),
    exec: (text, opts) => turn(() => pglite.exec(text, opts)),
    listen: (channel, callback, tx) => pglite.listen(channel, callback, tx),
  };
  return {
    pglite,
    statements,
    backend: 'pglite',
    target: options.dataDir ?? 'memory',
    schema,
    query: base.query,
    exec: base.exec,
    transaction: (fn) => turn(() => pglite.transaction((tx) => fn(wrap(tx, exchange, inTransaction, true)))),
    close: () => turn(() => pglite.close()),
  };
}
