/**
 * Where `sluice demo`'s wall time goes (`npm run bench:demo`): runs the demo in-process on a fresh
 * embedded database (a temp data dir, like `npx sluice --data-dir $(mktemp -d) demo`), then prints
 * time per phase, the database's share (statements, time with at least one statement outstanding,
 * the most frequent statement texts), and the concurrency each fake provider saw (mean and most in
 * flight while busy). Then runs it a second time (0 paid calls expected).
 *
 *   npm run bench:demo                        # the whole demo, twice
 *   npm run bench:demo -- --records 60        # the first 60 courses
 *   npm run bench:demo -- --concurrency 48    # runs in flight
 *   npm run bench:demo -- --once              # skip the second run
 *
 * Say the load (`uptime`) with every figure: the machine is shared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { runDemo } from '../src/demo/run-demo.ts';
import type { FakeLoad } from '../src/sandbox/fakes/fake-kit.ts';
import type { Sandbox } from '../src/sandbox/start-sandbox.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const records = flag('records') ? Number(flag('records')) : undefined;
const concurrency = flag('concurrency') ? Number(flag('concurrency')) : undefined;
const once = process.argv.includes('--once');
const log = (s: string) => process.stderr.write(`${s}\n`);

interface DbStats {
  statements: number;
  outstanding: number;
  busyMs: number;
  since: number;
  byText: Map<string, { n: number; ms: number; rows: number }>;
  /** Time inside PGlite's synchronous execution (this thread blocked), by statement text. */
  execMs: number;
  execByText: Map<string, { n: number; ms: number }>;
}

const decoder = new TextDecoder();
const cstring = (m: Uint8Array, at: number) => {
  const end = m.indexOf(0, at);
  return { text: decoder.decode(m.subarray(at, end)), next: end + 1 };
};

/**
 * Which statement a protocol exchange runs: walks its messages (type byte, int32 length) for a simple
 * Query `Q`, a Parse `P` (name, text: remembered by name) or a Bind `B` of a named statement.
 */
function statementOf(m: Uint8Array, byName: Map<string, string>, last: string): string {
  let at = 0;
  let found = last;
  while (at + 5 <= m.length) {
    const type = m[at]!;
    const length = ((m[at + 1]! << 24) | (m[at + 2]! << 16) | (m[at + 3]! << 8) | m[at + 4]!) >>> 0;
    const body = at + 5;
    if (type === 0x51) return cstring(m, body).text;
    if (type === 0x50) {
      const name = cstring(m, body);
      const text = cstring(m, name.next).text;
      byName.set(name.text, text);
      found = text;
    } else if (type === 0x42) {
      const portal = cstring(m, body);
      const name = cstring(m, portal.next).text;
      found = byName.get(name) ?? found;
    }
    at += 1 + length;
  }
  return found;
}

/**
 * Counts every statement (Sluice's through the Db, pg-boss's on the PGlite instance) and the time
 * with at least one outstanding; and the time this thread spends inside PGlite's synchronous
 * execution, by statement text (PGlite runs one statement at a time, on this thread).
 */
function instrument(db: Db): { db: Db; stats: DbStats } {
  const stats: DbStats = {
    statements: 0,
    outstanding: 0,
    busyMs: 0,
    since: 0,
    byText: new Map(),
    execMs: 0,
    execByText: new Map(),
  };
  const begin = () => {
    const now = performance.now();
    if (stats.outstanding > 0) stats.busyMs += now - stats.since;
    stats.since = now;
    stats.outstanding++;
    stats.statements++;
    return now;
  };
  const end = (text: string, t0: number, rows = 0) => {
    const now = performance.now();
    stats.busyMs += now - stats.since;
    stats.since = now;
    stats.outstanding--;
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 100);
    const e = stats.byText.get(key) ?? { n: 0, ms: 0, rows: 0 };
    e.n++;
    e.ms += now - t0;
    e.rows += rows;
    stats.byText.set(key, e);
  };
  const counted = (q: Queryable, inTx: boolean): Queryable => ({
    async query(text, params) {
      const t0 = inTx ? 0 : begin();
      if (inTx) stats.statements++;
      let rows = 0;
      try {
        const r = await q.query(text, params);
        rows = r.rows.length;
        return r as never;
      } finally {
        if (!inTx) end(text, t0, rows);
      }
    },
    async exec(sql) {
      const t0 = inTx ? 0 : begin();
      if (inTx) stats.statements++;
      try {
        return await q.exec(sql);
      } finally {
        if (!inTx) end(sql, t0);
      }
    },
  });
  const pglite = (db as Db & { pglite?: PGlite }).pglite;
  if (!pglite) throw new Error('bench:demo measures the embedded database (PGlite) only');
  // pg-boss's statements reach the instance directly.
  const bossQuery = pglite.query.bind(pglite);
  pglite.query = (async (text: string, params?: unknown[], options?: unknown) => {
    const t0 = begin();
    try {
      return await bossQuery(text, params, options as never);
    } finally {
      end(`(pg-boss) ${text}`, t0);
    }
  }) as typeof pglite.query;
  const raw = pglite as unknown as { execProtocolRawSync: (m: Uint8Array, ...rest: unknown[]) => unknown };
  const execSync = raw.execProtocolRawSync.bind(raw);
  const byName = new Map<string, string>();
  let last = '';
  raw.execProtocolRawSync = (m, ...rest) => {
    const t0 = performance.now();
    last = statementOf(m, byName, last);
    try {
      return execSync(m, ...rest);
    } finally {
      const ms = performance.now() - t0;
      stats.execMs += ms;
      const key = last.replace(/\s+/g, ' ').trim().slice(0, 100);
      const e = stats.execByText.get(key) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += ms;
      stats.execByText.set(key, e);
    }
  };
  const outer = counted(db, false);
  const wrapped: Db = {
    backend: db.backend,
    target: db.target,
    schema: db.schema,
    query: outer.query,
    exec: outer.exec,
    transaction: (fn) => {
      const t0 = begin();
      return db.transaction((tx) => fn(counted(tx, true))).finally(() => end('(transaction)', t0));
    },
    close: () => db.close(),
  };
  // pg-boss finds the instance's statements on the Db it is given.
  return {
    db: Object.assign(wrapped, { pglite, statements: (db as Db & { statements?: unknown }).statements }),
    stats,
  };
}

let fakes: Sandbox['fakes'] = {};
let current: ReturnType<typeof instrument> | undefined;
/** Zeroes the counters between runs (the instance is patched once). */
function fresh(db: Db) {
  current ??= instrument(db);
  Object.assign(current.stats, {
    statements: 0,
    busyMs: 0,
    byText: new Map(),
    execMs: 0,
    execByText: new Map(),
  });
  return current;
}

async function once_(db: Db, label: string) {
  const { db: idb, stats } = fresh(db);
  const phases: [string, number][] = [];
  const t0 = performance.now();
  const mark = (what: string) => phases.push([what, (performance.now() - t0) / 1000]);
  let firstProgress = false;
  const cpu0 = process.cpuUsage();
  const report = await runDemo({
    db: idb,
    env: process.env,
    ...(records !== undefined ? { records } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    onSandbox: (s) => {
      fakes = s.fakes;
      mark('sandbox started');
    },
    onStatus: (line) => mark(line.slice(0, 70)),
    onProgress: (done, total) => {
      if (!firstProgress) {
        firstProgress = true;
        mark('first progress tick');
      }
      if (done === total && !phases.some((p) => p[0] === 'all runs settled')) mark('all runs settled');
    },
  });
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - t0) / 1000;
  log(
    `\n== ${label}: wall ${wall.toFixed(1)} s, this process's CPU user ${(cpu.user / 1e6).toFixed(1)} s + sys ${(cpu.system / 1e6).toFixed(1)} s; load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  for (const [what, at] of phases) log(`  ${at.toFixed(1).padStart(6)} s  ${what}`);
  log(`  paid calls ${report.paid_calls}, cache hits ${report.cache_hits} of ${report.calls}`);
  log(
    `  database: ${stats.statements} statements, ${(stats.busyMs / 1000).toFixed(1)} s with one outstanding`,
  );
  log(
    `  of which executing (this thread blocked in PGlite): ${(stats.execMs / 1000).toFixed(1)} s; by statement:`,
  );
  log('  most rows returned:');
  for (const [text, e] of [...stats.byText.entries()].sort((a, b) => b[1].rows - a[1].rows).slice(0, 5))
    log(`    ${String(e.n).padStart(6)} statements, ${String(e.rows).padStart(7)} rows  ${text}`);
  const top = [...stats.execByText.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 18);
  for (const [text, e] of top)
    log(
      `    ${String(e.n).padStart(6)} × ${(e.ms / e.n).toFixed(2).padStart(6)} ms = ${(e.ms / 1000).toFixed(1).padStart(5)} s  ${text}`,
    );
  return report;
}

function describeLoad(id: string, l: FakeLoad, requests: number) {
  const mean = l.busyMs > 0 ? l.inFlightMs / l.busyMs : 0;
  return `  ${id.padEnd(11)} ${String(requests).padStart(5)} requests, busy ${(l.busyMs / 1000).toFixed(1).padStart(5)} s, mean in flight ${mean.toFixed(1).padStart(5)}, most ${l.maxInFlight}, mean time in fake ${requests ? (l.inFlightMs / requests).toFixed(0) : 0} ms`;
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-demo-'));
try {
  const db = await openDb({ dataDir: dir });
  try {
    await once_(db, 'first run');
    log(`  fakes (first run):`);
    for (const [id, f] of Object.entries(fakes)) log(describeLoad(id, f.stats.load, f.stats.requests));
    if (!once) {
      const second = await once_(db, 'second run');
      if (second.paid_calls !== 0) log(`  !! second run made ${second.paid_calls} paid calls`);
    }
  } finally {
    await db.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
