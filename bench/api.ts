/**
 * `npm run bench:api [-- --backend postgres|pglite|both] [--rate 500] [--seconds 20] [--contacts 20000] [--modes worker-process,in-process] [--profile DIR]`
 *
 * The read path of `sluice serve` under a fixed request rate while a batch runs. Seeds a database
 * (the sandbox world's 220 golf courses as accounts, plus `--contacts` contacts and an API key),
 * starts the real CLI (`sluice serve --sandbox`) in a child process, starts a golf-courses job over the
 * courses (simulated providers; on server Postgres once with the runs in a child process,
 * `serve --worker-processes 1`, once in the server's own process), and once its runs are going sends
 * `GET /v1/contacts/{random id}` at `--rate` requests/s for `--seconds`, twice per phase:
 * - paced (bench/paced-load.ts): open loop, one request due every 1/rate s, latency counted from when
 *   it was due (coordinated omission included). This is the figure the target is about.
 * - autocannon (npm `autocannon`, `overallRate`): a per-second quota that each of 16 connections sends
 *   back to back when the second starts, i.e. bursts of 16 concurrent requests: a stress figure.
 * Prints p50/p90/p99/max latency (every response timed, 0.01 ms), the achieved rate, non-2xx answers,
 * the server's own histogram, its CPU per request, how far the batch got and the load average.
 * Backends: server PostgreSQL (a fresh schema on DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test) and embedded PGlite (temp data dir).
 * Target: p99 <= 5 ms at 500 requests/s on server Postgres while a batch runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiKey } from '../src/api-keys/api-keys.ts';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { generateWorld } from '../src/sandbox/world.ts';
import { pacedLoadInChild } from './paced-load.ts';

interface AutocannonResult {
  duration: number;
  latency: { p50: number; p99: number };
  requests: { total: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = ((
  opts: Record<string, unknown>,
  cb: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance) & { track?: unknown };
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const RATE = Number(arg('rate', '500'));
const SECONDS = Number(arg('seconds', '20'));
const CONTACTS = Number(arg('contacts', '20000'));
const BACKEND = arg('backend', 'both');
/** `--profile DIR`: the server writes a V8 CPU profile there when it stops (node --cpu-prof). */
const PROFILE = arg('profile', '');
/** `--floor 0` skips the bare node:http server (bench/floor-server.ts) measured beside sluice on server Postgres. */
const FLOOR = arg('floor', '1') !== '0';
/** `--autocannon 0` skips the autocannon windows (bursts; a stress figure). */
const AUTOCANNON = arg('autocannon', '1') !== '0';
const PG_URL =
  process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));
const FLOOR_SERVER = fileURLToPath(new URL('./floor-server.ts', import.meta.url));

async function seed(db: Db) {
  const courses = generateWorld(1).courses;
  const ids = (
    await db.query<{ id: number }>(
      `INSERT INTO accounts (name, city, state) SELECT n, c, 'VA' FROM unnest($1::text[], $2::text[]) AS t(n, c) RETURNING id`,
      [courses.map((c) => c.name), courses.map((c) => c.city)],
    )
  ).rows.map((r) => r.id);
  await db.query(
    `INSERT INTO accounts (name, state) SELECT 'Bench Company ' || g, 'TX' FROM generate_series(1, 1000) g`,
  );
  await db.query(
    `INSERT INTO contacts (first_name, last_name, full_name, email, title, account_id)
     SELECT 'First' || g, 'Last' || g, 'First' || g || ' Last' || g, 'person' || g || '@bench' || (g % 1000) || '.com',
            'Manager', (SELECT id FROM accounts WHERE name = 'Bench Company ' || (1 + g % 1000))
       FROM generate_series(1, $1::int) g`,
    [CONTACTS],
  );
  await db.exec('ANALYZE');
  const range = await db.query<{ lo: number; hi: number }>(
    'SELECT min(id)::int AS lo, max(id)::int AS hi FROM contacts',
  );
  const key = (await createApiKey(db, { name: 'bench', scopes: ['read', 'write'] })).key;
  return { courseIds: ids, lo: range.rows[0]!.lo, hi: range.rows[0]!.hi, key };
}

function startServe(env: Record<string, string>, extra: string[]) {
  const prof = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [...prof, BIN, 'serve', '--sandbox', '--port', '0', ...extra],
    {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`sluice serve exited with ${code}:\n${stderr}`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () => stopChild(child),
  };
}

/** SIGTERM to a child process, resolved when it has exited (at once if it already has). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** bench/floor-server.ts in its own process (the tsx loader inherited from this one). */
function startFloor(env: Record<string, string>) {
  const child = spawn(process.execPath, [...process.execArgv, FLOOR_SERVER], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`the floor server exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () => stopChild(child),
  };
}

interface JobView {
  state: string;
  progress: {
    total: number;
    queued: number;
    running: number;
    enriched: number;
    partial: number;
    failed: number;
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
interface Dist {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  n: number;
}
const dist = (xs: number[]): Dist => {
  const s = sorted(xs);
  return { p50: pct(s, 50), p95: pct(s, 95), p99: pct(s, 99), max: s.at(-1) ?? Number.NaN, n: s.length };
};

/** CPU seconds (user + system) the server process used so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  const file = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(file)) return Number.NaN;
  const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `uptime`'s load averages (1, 5, 15 min). */
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

interface Window {
  tool: 'paced' | 'autocannon';
  label: string;
  seconds: number;
  /** Client-observed, ms: from when each request was due (paced) or sent (autocannon). */
  client: Dist;
  /** Client-observed from the request being handed to a socket, ms (paced only). */
  fromSend?: Dist;
  /** The paced client's own lag (due -> socket) and its 1 ms timer's lateness, p99 ms. */
  lagP99: number;
  tickLateP99: number;
  clientCpuMsPerRequest: number;
  /** The server's own figure per answer (Server-Timing app;dur, exact), ms. */
  serverApp?: Dist;
  /** Its database span (Server-Timing db;dur), ms. */
  serverDb?: Dist;
  /** From the server's /metrics over the window: HTTP histogram, event loop, GC. */
  runtime?: RuntimeDelta;
  answered: number;
  rate: number;
  bad: { non2xx: number; errors: number; timeouts: number };
  /** autocannon's own coordinated-omission corrected figures (whole ms). */
  acLatency?: { p50: number; p99: number };
  load: [string, string];
  /** Server CPU time per answered request, ms (independent of how busy the machine is). */
  cpuMsPerRequest: number;
}

type Buckets = Record<string, number>;
interface Scrape {
  http: { buckets: Buckets; sum: number; count: number };
  loop: { buckets: Buckets; sum: number; count: number };
  gc: { sum: number; count: number; buckets: Buckets };
  busy: number;
  at: number;
}

/** The series of /metrics the bench reads: GET /v1/contacts/:id 200, event-loop delay, GC pauses. */
async function scrape(url: string, key: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`, { headers: { 'x-api-key': key } })).text();
  const empty = () => ({ buckets: {} as Buckets, sum: 0, count: 0 });
  const out: Scrape = { http: empty(), loop: empty(), gc: empty(), busy: 0, at: performance.now() };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    let into: { buckets: Buckets; sum: number; count: number } | undefined;
    if (line.startsWith('sluice_http_request_duration_seconds')) {
      if (
        line.includes('route="/v1/contacts/:id"') &&
        line.includes('method="GET"') &&
        line.includes('status="200"')
      )
        into = out.http;
    } else if (line.startsWith('sluice_event_loop_delay_seconds')) into = out.loop;
    else if (line.startsWith('sluice_gc_pause_seconds')) into = out.gc;
    else if (line.startsWith('sluice_event_loop_busy_seconds_total')) out.busy = value;
    if (!into) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    // GC series by kind are summed
    if (le) into.buckets[le] = (into.buckets[le] ?? 0) + value;
    else if (line.includes('_sum')) into.sum += value;
    else if (line.includes('_count')) into.count += value;
  }
  return out;
}

/** Prometheus' histogram_quantile over the difference of two scrapes (linear within a bucket). */
function quantile(a: Buckets, b: Buckets, q: number): number {
  const bounds = Object.keys(b)
    .filter((k) => k !== '+Inf')
    .map(Number)
    .sort((x, y) => x - y);
  const at = (k: number) => (b[String(k)] ?? 0) - (a[String(k)] ?? 0);
  const total = (b['+Inf'] ?? 0) - (a['+Inf'] ?? 0);
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const bound of bounds) {
    const c = at(bound);
    if (c >= rank) return prevBound + ((bound - prevBound) * (rank - prevCount)) / Math.max(1, c - prevCount);
    prevBound = bound;
    prevCount = c;
  }
  return Number.POSITIVE_INFINITY;
}

interface RuntimeDelta {
  /** Interpolated from the app's histogram, ms. */
  httpP50: number;
  httpP99: number;
  httpMeanMs: number;
  /** Event-loop delay (timer due every 10 ms), interpolated, ms; share of samples over 5 ms. */
  loopP50: number;
  loopP99: number;
  loopOver5: number;
  loopMax: string;
  /** GC pauses in the window: how many, total ms, share of wall time. */
  gcCount: number;
  gcMs: number;
  /** Share of the window the server's event loop was busy. */
  busyShare: number;
}

function runtimeDelta(a: Scrape, b: Scrape): RuntimeDelta {
  const n = b.http.count - a.http.count;
  const loopN = b.loop.count - a.loop.count;
  const over5 = loopN - ((b.loop.buckets['0.005'] ?? 0) - (a.loop.buckets['0.005'] ?? 0));
  const bounds = Object.keys(b.loop.buckets).filter((k) => k !== '+Inf');
  const loopMax = bounds.find((k) => (b.loop.buckets[k] ?? 0) - (a.loop.buckets[k] ?? 0) === loopN) ?? '>1';
  return {
    httpP50: quantile(a.http.buckets, b.http.buckets, 0.5) * 1000,
    httpP99: quantile(a.http.buckets, b.http.buckets, 0.99) * 1000,
    httpMeanMs: n > 0 ? ((b.http.sum - a.http.sum) / n) * 1000 : Number.NaN,
    loopP50: quantile(a.loop.buckets, b.loop.buckets, 0.5) * 1000,
    loopP99: quantile(a.loop.buckets, b.loop.buckets, 0.99) * 1000,
    loopOver5: loopN > 0 ? over5 / loopN : Number.NaN,
    loopMax: `<= ${Number(loopMax) * 1000} ms`,
    gcCount: b.gc.count - a.gc.count,
    gcMs: (b.gc.sum - a.gc.sum) * 1000,
    busyShare: (b.busy - a.busy) / ((b.at - a.at) / 1000),
  };
}

interface Target {
  url: string;
  /** `{id}` is a random contact id. */
  path: string;
  pid: number | undefined;
  /** false: a floor server without /metrics. */
  metrics: boolean;
}

async function measure(
  target: Target,
  seeded: { lo: number; hi: number; key: string },
  seconds: number,
  tool: 'paced' | 'autocannon',
  label: string,
): Promise<Window> {
  const { url } = target;
  const cpu0 = cpuSeconds(target.pid);
  const h0 = target.metrics ? await scrape(url, seeded.key) : undefined;
  const load0 = load();
  const span = seeded.hi - seeded.lo + 1;
  const path = () => target.path.replace('{id}', String(seeded.lo + Math.floor(Math.random() * span)));
  let w: Omit<Window, 'runtime' | 'load' | 'cpuMsPerRequest' | 'tool' | 'seconds' | 'label'>;
  if (tool === 'paced') {
    const r = await pacedLoadInChild({
      url,
      rate: RATE,
      seconds,
      path: target.path,
      ids: [seeded.lo, seeded.hi],
      headers: { 'x-api-key': seeded.key },
    });
    const non2xx = Object.entries(r.statuses)
      .filter(([s]) => Number(s) < 200 || Number(s) >= 300)
      .reduce((n, [, k]) => n + k, 0);
    w = {
      client: dist(r.latencies),
      fromSend: dist(r.fromSend),
      lagP99: pct(sorted(r.lags), 99),
      tickLateP99: pct(sorted(r.tickLate), 99),
      clientCpuMsPerRequest: r.cpuMsPerRequest,
      ...(r.serverMs.length > 0 ? { serverApp: dist(r.serverMs) } : {}),
      ...(r.dbMs.length > 0 ? { serverDb: dist(r.dbMs) } : {}),
      answered: r.latencies.length,
      rate: r.latencies.length / seconds,
      bad: { non2xx, errors: r.errors, timeouts: 0 },
    };
  } else {
    const times: number[] = [];
    const ac = await new Promise<AutocannonResult>((resolve, reject) => {
      const instance = autocannon(
        {
          url,
          connections: 16,
          overallRate: RATE,
          duration: seconds,
          headers: { 'x-api-key': seeded.key },
          requests: [
            {
              method: 'GET',
              setupRequest: (req: Record<string, unknown>) => ({ ...req, path: path() }),
            },
          ],
        },
        (err, r) => (err ? reject(err) : resolve(r)),
      );
      instance.on('response', (_client, status, _bytes, ms) => {
        if (status === 200) times.push(ms);
      });
    });
    w = {
      client: dist(times),
      lagP99: Number.NaN,
      tickLateP99: Number.NaN,
      clientCpuMsPerRequest: Number.NaN,
      answered: times.length,
      rate: times.length / ac.duration,
      bad: { non2xx: ac.non2xx, errors: ac.errors, timeouts: ac.timeouts },
      acLatency: ac.latency,
    };
  }
  const load1 = load();
  const cpu1 = cpuSeconds(target.pid);
  const h1 = target.metrics ? await scrape(url, seeded.key) : undefined;
  return {
    ...w,
    tool,
    label,
    seconds,
    ...(h0 && h1 ? { runtime: runtimeDelta(h0, h1) } : {}),
    load: [load0, load1],
    cpuMsPerRequest: ((cpu1 - cpu0) * 1000) / Math.max(1, w.answered),
  };
}

const f = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(2) : String(ms));
const d3 = (x: Dist) => `p50 ${f(x.p50)}  p95 ${f(x.p95)}  p99 ${f(x.p99)}  max ${f(x.max)} ms`;

function report(w: Window) {
  console.log(
    `  ${w.label}, ${w.seconds} s, ${w.tool === 'paced' ? `paced (open loop from its own process, one request every ${(1000 / RATE).toFixed(1)} ms)` : 'autocannon (per-second quota: bursts on 16 connections)'}:`,
  );
  console.log(
    `    client, from due      ${d3(w.client)}` +
      (w.acLatency
        ? `   (autocannon's coordinated-omission corrected, whole ms: p50 ${w.acLatency.p50}, p99 ${w.acLatency.p99})`
        : ''),
  );
  if (w.fromSend)
    console.log(
      `    client, from send     ${d3(w.fromSend)}   (client send lag p99 ${f(w.lagP99)} ms, its 1 ms timer late p99 ${f(w.tickLateP99)} ms, client CPU ${w.clientCpuMsPerRequest.toFixed(3)} ms/req)`,
    );
  if (w.serverApp)
    console.log(`    server, in the app    ${d3(w.serverApp)}   (Server-Timing app;dur, every answer)`);
  if (w.serverDb)
    console.log(
      `    server, db query      ${d3(w.serverDb)}   (Server-Timing db;dur: pool wait + round trip + row parsing)`,
    );
  const r = w.runtime;
  if (r)
    console.log(
      `    server runtime        event-loop delay p50 ${f(r.loopP50)} p99 ${f(r.loopP99)} ms, max ${r.loopMax}, ${(r.loopOver5 * 100).toFixed(2)} % of samples over 5 ms; ` +
        `GC ${r.gcCount} pauses ${f(r.gcMs)} ms; loop busy ${(r.busyShare * 100).toFixed(1)} %; app histogram mean ${f(r.httpMeanMs)} ms`,
    );
  console.log(
    `    achieved ${w.rate.toFixed(1)} req/s answered 200 (${((w.rate / RATE) * 100).toFixed(1)} % of ${RATE}); ` +
      `non-2xx ${w.bad.non2xx}, errors ${w.bad.errors}, timeouts ${w.bad.timeouts}; ` +
      `server CPU ${f(w.cpuMsPerRequest)} ms/req; load average ${w.load[0]} -> ${w.load[1]} (${cpus().length} cores)`,
  );
}

/** in-process: the runs share the server's event loop; worker-process: `serve --worker-processes 1`. */
type Mode = 'in-process' | 'worker-process';

async function scenario(backend: 'postgres' | 'pglite', mode: Mode) {
  const dir = backend === 'pglite' ? mkdtempSync(join(tmpdir(), 'sluice-bench-api-')) : undefined;
  const schema = `bench_api_${Math.random().toString(36).slice(2, 10)}`;
  const env: Record<string, string> = dir
    ? { SLUICE_DATA_DIR: dir }
    : { DATABASE_URL: PG_URL, SLUICE_DB_SCHEMA: schema };
  const db = dir ? await openDb({ dataDir: dir }) : await openDb({ databaseUrl: PG_URL, schema });
  const seeded = await seed(db);
  // PGlite is one process: the server opens the data dir after the seeding closed it.
  await db.close();
  const floor = backend === 'postgres' && FLOOR ? startFloor(env) : undefined;
  const server = startServe(env, mode === 'worker-process' ? ['--worker-processes', '1'] : []);
  try {
    const url = await server.url;
    const api = async (path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'x-api-key': seeded.key, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
      return res.json() as Promise<unknown>;
    };
    if (mode === 'worker-process') {
      // the child boots (compiles, opens its pool, starts its sandbox) before the idle window, not in it
      const until = Date.now() + 120_000;
      while (((await api('/health')) as { workers: { worker: number } }).workers.worker < 1) {
        if (Date.now() > until) throw new Error('the worker process did not report in within 120 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    for (let i = 0; i < 50; i++) await api(`/v1/contacts/${seeded.lo + i}`);
    const sluiceTarget: Target = { url, path: '/v1/contacts/{id}', pid: server.pid, metrics: true };
    const floorUrl = floor ? await floor.url : undefined;
    const floorTarget = (path: string): Target => ({
      url: floorUrl!,
      path,
      pid: floor?.pid,
      metrics: false,
    });
    const idleSeconds = Math.max(3, Math.round(SECONDS / 2));
    // Warm-up, not measured: 3 s at the rate against each server first, so V8 has compiled the read path
    // (its optimizing compiler runs on the same 2 cores) before any window counts.
    const warm = (t: Target) =>
      pacedLoadInChild({
        url: t.url,
        rate: RATE,
        seconds: 3,
        path: t.path,
        ids: [seeded.lo, seeded.hi],
        headers: { 'x-api-key': seeded.key },
      });
    await warm(sluiceTarget);
    if (floorUrl) await warm(floorTarget('/db/{id}'));
    const windows: Window[] = [];
    if (floorUrl) {
      windows.push(
        await measure(
          floorTarget('/hello'),
          seeded,
          idleSeconds,
          'paced',
          'floor: bare node:http, constant body, no batch',
        ),
      );
      windows.push(
        await measure(
          floorTarget('/db/{id}'),
          seeded,
          idleSeconds,
          'paced',
          'floor: bare node:http + the same SELECT, no batch',
        ),
      );
    }
    windows.push(await measure(sluiceTarget, seeded, idleSeconds, 'paced', 'sluice, no batch'));
    if (AUTOCANNON)
      windows.push(await measure(sluiceTarget, seeded, idleSeconds, 'autocannon', 'sluice, no batch'));
    const job = (await api('/v1/jobs', { pipeline: 'golf-courses', ids: seeded.courseIds })) as {
      job_id: string;
    };
    const progress = async () => (await api(`/v1/jobs/${job.job_id}`)) as JobView;
    const deadline = Date.now() + 120_000;
    let before = await progress();
    while (before.progress.running === 0 && before.state === 'processing' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      before = await progress();
    }
    const busy = await measure(sluiceTarget, seeded, SECONDS, 'paced', 'sluice, batch running');
    windows.push(busy);
    if (floorUrl)
      windows.push(
        await measure(
          floorTarget('/db/{id}'),
          seeded,
          idleSeconds,
          'paced',
          'floor: bare node:http + the same SELECT, batch running',
        ),
      );
    if (AUTOCANNON)
      windows.push(await measure(sluiceTarget, seeded, idleSeconds, 'autocannon', 'sluice, batch running'));
    const after = await progress();
    const settled = (p: JobView) => p.progress.enriched + p.progress.partial + p.progress.failed;
    console.log(
      `\n${backend === 'postgres' ? 'server PostgreSQL' : 'embedded PGlite'}, ${mode === 'in-process' ? 'runs worked in the server process (serve)' : 'runs worked in a child process (serve --worker-processes 1)'}:`,
    );
    console.log(
      `  GET /v1/contacts/{random id} (${CONTACTS} contacts) at ${RATE} req/s; each load generator and server in a process of its own`,
    );
    for (const w of windows) report(w);
    console.log(
      `    batch meanwhile: ${settled(before)} -> ${settled(after)} of ${after.progress.total} runs settled, ` +
        `${before.progress.running} running at the start, ${after.progress.running} at the end (job ${after.state})`,
    );
    const idle = windows.find((w) => w.label === 'sluice, no batch' && w.tool === 'paced')!;
    console.log(
      `  p99 with batch / target 5 ms = ${(busy.client.p99 / 5).toFixed(2)};  p99 with batch / p99 without = ${(busy.client.p99 / idle.client.p99).toFixed(2)}`,
    );
  } finally {
    await server.stop();
    await floor?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    else {
      const admin = await openDb({ databaseUrl: PG_URL, migrate: false });
      await admin.exec(
        `DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${bossSchemaFor(schema)}" CASCADE`,
      );
      await admin.close();
    }
  }
}

console.log(`bench:api  node ${process.version}, ${cpus().length} cores, load average ${load()}`);
const MODES = arg('modes', 'worker-process,in-process').split(',') as Mode[];
if (BACKEND === 'postgres' || BACKEND === 'both') for (const mode of MODES) await scenario('postgres', mode);
if (BACKEND === 'pglite' || BACKEND === 'both') await scenario('pglite', 'in-process');
