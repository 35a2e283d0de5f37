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
import type { Db } from '../src/db/db.ts';
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

/** The statement text of a protocol message batch (Parse `P` or simple Query `Q`), for attribution. */
function textOfMessage(m: Uint8Array): string {
  const t = m[0];
  if (t === 0x51) return new TextDecoder().decode(m.subarray(5, m.indexOf(0, 5)));
  if (t === 0x50) {
    const nameEnd = m.indexOf(0, 5);
    return new TextDecoder().decode(m.subarray(nameEnd + 1, m.indexOf(0, nameEnd + 1)));
  }
  return `(protocol ${String.fromCharCode(t ?? 63)})`;
}

/**
 * Counts every statement on the PGlite instance (Sluice's and pg-boss's) and the time with at least
 * one outstanding (PGlite runs one at a time, on this thread).
 */
function instrument(db: Db): DbStats {
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
  type Q = { query: (...a: unknown[]) => Promise<unknown>; exec: (...a: unknown[]) => Promise<unknown> };
  const patch = (q: Q, inTx: boolean) => {
    const query = q.query.bind(q);
    const exec = q.exec.bind(q);
    q.query = async (...a) => {
      if (inTx) stats.statements++;
      const t0 = inTx ? 0 : begin();
      let rows = 0;
      try {
        const r = (await query(...a)) as { rows?: unknown[] };
        rows = r.rows?.length ?? 0;
        return r;
      } finally {
        if (!inTx) end(String(a[0]), t0, rows);
      }
    };
    q.exec = async (...a) => {
      if (inTx) stats.statements++;
      const t0 = inTx ? 0 : begin();
      try {
        return await exec(...a);
      } finally {
        if (!inTx) end(String(a[0]), t0);
      }
    };
  };
  const pglite = (
    db as Db & { pglite?: Q & { transaction: (fn: (tx: Q) => Promise<unknown>) => Promise<unknown> } }
  ).pglite;
  if (!pglite) throw new Error('bench:demo measures the embedded database (PGlite) only');
  patch(pglite, false);
  const raw = pglite as unknown as { execProtocolRawSync: (m: Uint8Array, ...rest: unknown[]) => unknown };
  const execSync = raw.execProtocolRawSync.bind(raw);
  // Extended protocol: Parse, then Bind/Describe/Execute/Sync in separate calls, all of one statement.
  let last = '';
  raw.execProtocolRawSync = (m, ...rest) => {
    const t0 = performance.now();
    if (m[0] === 0x50 || m[0] === 0x51) last = textOfMessage(m);
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
  const transaction = pglite.transaction.bind(pglite);
  pglite.transaction = (fn) => {
    const t0 = begin();
    return transaction((tx) => {
      patch(tx, true);
      return fn(tx);
    }).finally(() => end('(transaction)', t0));
  };
  return stats;
}

let fakes: Sandbox['fakes'] = {};
let current: DbStats | undefined;
/** Zeroes the counters between runs (the instance is patched once). */
function fresh(db: Db): DbStats {
  current ??= instrument(db);
  Object.assign(current, { statements: 0, busyMs: 0, byText: new Map(), execMs: 0, execByText: new Map() });
  return current;
}

async function once_(db: Db, label: string) {
  const stats = fresh(db);
  const phases: [string, number][] = [];
  const t0 = performance.now();
  const mark = (what: string) => phases.push([what, (performance.now() - t0) / 1000]);
  let firstProgress = false;
  const cpu0 = process.cpuUsage();
  const report = await runDemo({
    db,
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
