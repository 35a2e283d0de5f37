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
import { pacedLoad } from './paced-load.ts';

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
const PG_URL =
  process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

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
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
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

/** CPU seconds (user + system) the server process used so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  const file = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(file)) return Number.NaN;
  const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Window {
  tool: 'paced' | 'autocannon';
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** p99 of the paced client's own lag (due -> handed to a socket), ms; NaN for autocannon. */
  lagP99: number;
  answered: number;
  rate: number;
  bad: { non2xx: number; errors: number; timeouts: number };
  /** autocannon's own coordinated-omission corrected figures (whole ms). */
  acLatency?: { p50: number; p99: number };
  /** Server-side (the app's own histogram in /metrics): share of answers within 1, 2.5, 5 ms, and the mean. */
  server: { within: Record<string, number>; meanMs: number };
  load: [number, number];
  /** Server CPU time per answered request, ms (independent of how busy the machine is). */
  cpuMsPerRequest: number;
}

/** The GET /v1/contacts/:id 200 series of /metrics: cumulative bucket counts by bound, sum, count. */
async function serverHistogram(url: string, key: string) {
  const text = await (await fetch(`${url}/metrics`, { headers: { 'x-api-key': key } })).text();
  const buckets: Record<string, number> = {};
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (
      !line.includes('route="/v1/contacts/:id"') ||
      !line.includes('method="GET"') ||
      !line.includes('status="200"')
    )
      continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le) buckets[le] = value;
    else if (line.startsWith('sluice_http_request_duration_seconds_sum')) sum = value;
    else if (line.startsWith('sluice_http_request_duration_seconds_count')) count = value;
  }
  return { buckets, sum, count };
}

async function measure(
  url: string,
  seeded: { lo: number; hi: number; key: string },
  seconds: number,
  pid: number | undefined,
  tool: 'paced' | 'autocannon',
): Promise<Window> {
  const cpu0 = cpuSeconds(pid);
  const h0 = await serverHistogram(url, seeded.key);
  const load0 = loadavg()[0]!;
  const span = seeded.hi - seeded.lo + 1;
  const path = () => `/v1/contacts/${seeded.lo + Math.floor(Math.random() * span)}`;
  let times: number[];
  let lags: number[] = [];
  let duration = seconds;
  let bad = { non2xx: 0, errors: 0, timeouts: 0 };
  let acLatency: { p50: number; p99: number } | undefined;
  if (tool === 'paced') {
    const r = await pacedLoad({ url, rate: RATE, seconds, path, headers: { 'x-api-key': seeded.key } });
    times = r.latencies;
    lags = r.lags.sort((a, b) => a - b);
    const non2xx = [...r.statuses].filter(([s]) => s < 200 || s >= 300).reduce((n, [, k]) => n + k, 0);
    bad = { non2xx, errors: r.errors, timeouts: 0 };
  } else {
    times = [];
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
    duration = ac.duration;
    bad = { non2xx: ac.non2xx, errors: ac.errors, timeouts: ac.timeouts };
    acLatency = ac.latency;
  }
  const load1 = loadavg()[0]!;
  const cpu1 = cpuSeconds(pid);
  const h1 = await serverHistogram(url, seeded.key);
  times.sort((a, b) => a - b);
  const n = h1.count - h0.count;
  const within: Record<string, number> = {};
  for (const le of ['0.001', '0.0025', '0.005'])
    within[le] = n > 0 ? ((h1.buckets[le] ?? 0) - (h0.buckets[le] ?? 0)) / n : Number.NaN;
  return {
    tool,
    seconds,
    p50: pct(times, 50),
    p90: pct(times, 90),
    p99: pct(times, 99),
    max: times.at(-1) ?? Number.NaN,
    lagP99: pct(lags, 99),
    answered: times.length,
    rate: times.length / duration,
    bad,
    ...(acLatency ? { acLatency } : {}),
    server: { within, meanMs: n > 0 ? ((h1.sum - h0.sum) / n) * 1000 : Number.NaN },
    load: [load0, load1],
    cpuMsPerRequest: ((cpu1 - cpu0) * 1000) / Math.max(1, times.length),
  };
}

function report(label: string, w: Window) {
  const f = (ms: number) => `${ms.toFixed(2)} ms`;
  const share = (x: number | undefined) => `${((x ?? Number.NaN) * 100).toFixed(1)} %`;
  console.log(
    `  ${label}, ${w.tool === 'paced' ? `paced (open loop, one request every ${(1000 / RATE).toFixed(1)} ms)` : 'autocannon (per-second quota: bursts on 16 connections)'}:`,
  );
  console.log(
    `    client latency  p50 ${f(w.p50)}  p90 ${f(w.p90)}  p99 ${f(w.p99)}  max ${f(w.max)}` +
      (w.acLatency
        ? `   (autocannon's coordinated-omission corrected, whole ms: p50 ${w.acLatency.p50} ms, p99 ${w.acLatency.p99} ms)`
        : `   (from when each request was due; client send lag p99 ${f(w.lagP99)})`),
  );
  console.log(
    `    achieved ${w.rate.toFixed(1)} req/s answered 200 (${((w.rate / RATE) * 100).toFixed(1)} % of ${RATE}); ` +
      `non-2xx ${w.bad.non2xx}, errors ${w.bad.errors}, timeouts ${w.bad.timeouts}`,
  );
  console.log(
    `    server-side (the app's histogram): mean ${f(w.server.meanMs)}; within 1 ms ${share(w.server.within['0.001'])}, ` +
      `2.5 ms ${share(w.server.within['0.0025'])}, 5 ms ${share(w.server.within['0.005'])}`,
  );
  console.log(
    `    server process CPU ${w.cpuMsPerRequest.toFixed(2)} ms per answered request (batch work included when it runs); ` +
      `load average ${w.load[0].toFixed(1)} -> ${w.load[1].toFixed(1)} on ${cpus().length} cores`,
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
    const idleSeconds = Math.max(3, Math.round(SECONDS / 2));
    const idle = await measure(url, seeded, idleSeconds, server.pid, 'paced');
    const idleBurst = await measure(url, seeded, idleSeconds, server.pid, 'autocannon');
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
    const busy = await measure(url, seeded, SECONDS, server.pid, 'paced');
    const busyBurst = await measure(url, seeded, idleSeconds, server.pid, 'autocannon');
    const after = await progress();
    const settled = (p: JobView) => p.progress.enriched + p.progress.partial + p.progress.failed;
    console.log(
      `\n${backend === 'postgres' ? 'server PostgreSQL' : 'embedded PGlite'}, ${mode === 'in-process' ? 'runs worked in the server process (serve)' : 'runs worked in a child process (serve --worker-processes 1)'}:`,
    );
    console.log(
      `  GET /v1/contacts/{random id} (${CONTACTS} contacts) at ${RATE} req/s; load from the bench process, sluice serve --sandbox in its own`,
    );
    report(`no batch, ${idle.seconds} s`, idle);
    report(`no batch, ${idleBurst.seconds} s`, idleBurst);
    report(`batch running, ${busy.seconds} s`, busy);
    report(`batch running, ${busyBurst.seconds} s`, busyBurst);
    console.log(
      `    batch meanwhile: ${settled(before)} -> ${settled(after)} of ${after.progress.total} runs settled, ` +
        `${before.progress.running} running at the start, ${after.progress.running} at the end (job ${after.state})`,
    );
    console.log(
      `  p99 with batch / target 5 ms = ${(busy.p99 / 5).toFixed(2)};  p99 with batch / p99 without = ${(busy.p99 / idle.p99).toFixed(2)}`,
    );
  } finally {
    await server.stop();
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

console.log(
  `bench:api  node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}`,
);
const MODES = arg('modes', 'worker-process,in-process').split(',') as Mode[];
if (BACKEND === 'postgres' || BACKEND === 'both') for (const mode of MODES) await scenario('postgres', mode);
if (BACKEND === 'pglite' || BACKEND === 'both') await scenario('pglite', 'in-process');
