/**
 * Statements per gateway call in the overhead scenario (bench/index.ts `overhead`), per backend:
 * every statement Sluice and pg-boss send is counted by its text, then divided by the calls made.
 *
 *   npx tsx bench/statements.ts [records] [pglite|postgres]
 *   PROFILE=/tmp/x npx tsx bench/statements.ts 600 pglite   # also a CPU profile of the run alone: /tmp/x-<backend>.cpuprofile
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import pg from 'pg';
import type { Db, Queryable } from '../src/db/db.ts';
import { chainPipeline } from '../test/helpers/fake-pipelines.ts';
import { runInProcess, scenarioDb, seedAccounts, startFakeServerProcess } from './bench-lib.ts';

const records = Number(process.argv[2] ?? 300);
const backends = (process.argv[3] ?? 'pglite,postgres').split(',') as ('pglite' | 'postgres')[];

const counts = new Map<string, { n: number; ms: number }>();
let counting = false;
const label = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 110);
function count(text: string, ms: number) {
  if (!counting) return;
  const k = label(text);
  const c = counts.get(k) ?? { n: 0, ms: 0 };
  c.n++;
  c.ms += ms;
  counts.set(k, c);
}
async function timed<T>(text: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    count(text, performance.now() - t0);
  }
}

// Server Postgres: every statement of every client (Sluice's pool and pg-boss share it).
const clientQuery = pg.Client.prototype.query as (...a: unknown[]) => unknown;
pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
  const q = args[0];
  const text = typeof q === 'string' ? q : ((q as { text?: string }).text ?? '?');
  const t0 = performance.now();
  const done = () => count(text, performance.now() - t0);
  const cb = args.findIndex((a) => typeof a === 'function');
  if (cb >= 0) {
    const f = args[cb] as (...x: unknown[]) => unknown;
    args[cb] = (...x: unknown[]) => {
      done();
      return f(...x);
    };
    return clientQuery.apply(this, args);
  }
  const r = clientQuery.apply(this, args);
  if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(done, done);
  else done();
  return r;
} as typeof pg.Client.prototype.query;

function wrapPglite(db: Db) {
  const wrapQ = (q: Queryable): Queryable => ({
    query: (text, params) => timed(text, () => q.query(text, params)),
    exec: (sql) => timed(sql, () => q.exec(sql)),
  });
  const base = wrapQ({ query: db.query.bind(db), exec: db.exec.bind(db) });
  const tx = db.transaction.bind(db);
  Object.assign(db, {
    query: base.query,
    exec: base.exec,
    transaction: <T>(fn: (t: Queryable) => Promise<T>) =>
      timed('BEGIN … COMMIT (transaction)', () => tx((t) => fn(wrapQ(t)))),
  });
  const st = (db as Db & { statements?: { query: Queryable['query']; exec: Queryable['exec'] } }).statements;
  if (st) {
    const q = st.query.bind(st);
    const e = st.exec.bind(st);
    st.query = ((text: string, params?: unknown[]) =>
      timed(`[boss] ${text}`, () => q(text, params))) as never;
    st.exec = ((text: string) => timed(`[boss] ${text}`, () => e(text))) as never;
  }
}

for (const backend of backends) {
  counts.clear();
  const server = await startFakeServerProcess({ fast: {} });
  const s = await scenarioDb(backend);
  try {
    if (backend === 'pglite') wrapPglite(s.db);
    await seedAccounts(
      s.db,
      Array.from({ length: records }, (_, i) => i + 1),
    );
    counting = true;
    const session = process.env.PROFILE ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const cpu0 = process.cpuUsage();
    const r = await runInProcess({
      db: s.db,
      fakeUrl: server.url,
      apis: { fast: undefined },
      pipeline: chainPipeline('fast', 3),
      concurrency: backend === 'postgres' ? 64 : 32,
    });
    counting = false;
    const cpu = process.cpuUsage(cpu0);
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${process.env.PROFILE}-${backend}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    }
    const calls = r.progress.calls;
    const rows = [...counts.entries()].sort((a, b) => b[1].n - a[1].n);
    const total = rows.reduce((s, [, c]) => s + c.n, 0);
    console.log(
      `\n${backend}: ${calls} calls, ${r.progress.enriched} runs, ${(r.wallMs / 1000).toFixed(1)} s = ${Math.round(calls / (r.wallMs / 1000))} calls/s; ${total} statements = ${(total / calls).toFixed(2)} per call; ${Math.round(calls / ((cpu.user + cpu.system) / 1e6))} calls per CPU-second of this process`,
    );
    for (const [k, c] of rows)
      if (c.n / calls >= 0.01)
        console.log(
          `${(c.n / calls).toFixed(3).padStart(7)}  ${(c.ms / c.n).toFixed(2).padStart(7)} ms  ${k}`,
        );
  } finally {
    counting = false;
    await s.cleanup();
    await server.close();
  }
}
