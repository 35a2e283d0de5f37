/**
 * `npm run bench:api [-- --backend postgres|pglite|both] [--rate 500] [--seconds 20] [--contacts 20000]`
 *
 * The read path of `sluice serve` under a fixed request rate while a batch runs. Seeds a database
 * (the sandbox world's 220 golf courses as accounts, plus `--contacts` contacts and an API key),
 * starts the real CLI (`sluice serve --sandbox`) in a child process, starts a golf-courses job over the
 * courses (in-process workers, simulated providers), and once its runs are going sends
 * `GET /v1/contacts/{random id}` at `--rate` requests/s with autocannon (npm `autocannon`, fixed
 * overall rate) for `--seconds`. Prints p50/p90/p99/max latency (every response timed, 0.01 ms), the
 * achieved rate, non-2xx answers, how far the batch got during the window and the load average.
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

function startServe(env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--sandbox', '--port', '0'], {
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
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
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  answered: number;
  rate: number;
  ac: AutocannonResult;
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
): Promise<Window> {
  const times: number[] = [];
  const cpu0 = cpuSeconds(pid);
  const h0 = await serverHistogram(url, seeded.key);
  const load0 = loadavg()[0]!;
  const span = seeded.hi - seeded.lo + 1;
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
            setupRequest: (req: Record<string, unknown>) => ({
              ...req,
              path: `/v1/contacts/${seeded.lo + Math.floor(Math.random() * span)}`,
            }),
          },
        ],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) times.push(ms);
    });
  });
  const load1 = loadavg()[0]!;
  const cpu1 = cpuSeconds(pid);
  const h1 = await serverHistogram(url, seeded.key);
  times.sort((a, b) => a - b);
  const n = h1.count - h0.count;
  const within: Record<string, number> = {};
  for (const le of ['0.001', '0.0025', '0.005'])
    within[le] = n > 0 ? ((h1.buckets[le] ?? 0) - (h0.buckets[le] ?? 0)) / n : Number.NaN;
  return {
    seconds,
    p50: pct(times, 50),
    p90: pct(times, 90),
    p99: pct(times, 99),
    max: times.at(-1) ?? Number.NaN,
    answered: times.length,
    rate: times.length / ac.duration,
    ac,
    server: { within, meanMs: n > 0 ? ((h1.sum - h0.sum) / n) * 1000 : Number.NaN },
    load: [load0, load1],
    cpuMsPerRequest: ((cpu1 - cpu0) * 1000) / Math.max(1, times.length),
  };
}

function report(label: string, w: Window) {
  const f = (ms: number) => `${ms.toFixed(2)} ms`;
  const share = (x: number | undefined) => `${((x ?? Number.NaN) * 100).toFixed(1)} %`;
  console.log(`  ${label}:`);
  console.log(
    `    client latency  p50 ${f(w.p50)}  p90 ${f(w.p90)}  p99 ${f(w.p99)}  max ${f(w.max)}` +
      `   (autocannon, coordinated-omission corrected, whole ms: p50 ${w.ac.latency.p50} ms, p99 ${w.ac.latency.p99} ms)`,
  );
  console.log(
    `    achieved ${w.rate.toFixed(1)} req/s answered 200 (${((w.rate / RATE) * 100).toFixed(1)} % of ${RATE}); ` +
      `non-2xx ${w.ac.non2xx}, errors ${w.ac.errors}, timeouts ${w.ac.timeouts}`,
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

async function scenario(backend: 'postgres' | 'pglite') {
  const dir = backend === 'pglite' ? mkdtempSync(join(tmpdir(), 'sluice-bench-api-')) : undefined;
  const schema = `bench_api_${Math.random().toString(36).slice(2, 10)}`;
  const env: Record<string, string> = dir
    ? { SLUICE_DATA_DIR: dir }
    : { DATABASE_URL: PG_URL, SLUICE_DB_SCHEMA: schema };
  const db = dir ? await openDb({ dataDir: dir }) : await openDb({ databaseUrl: PG_URL, schema });
  const seeded = await seed(db);
  // PGlite is one process: the server opens the data dir after the seeding closed it.
  await db.close();
  const server = startServe(env);
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
    for (let i = 0; i < 50; i++) await api(`/v1/contacts/${seeded.lo + i}`);
    const idle = await measure(url, seeded, Math.max(3, Math.round(SECONDS / 2)), server.pid);
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
    const busy = await measure(url, seeded, SECONDS, server.pid);
    const after = await progress();
    const settled = (p: JobView) => p.progress.enriched + p.progress.partial + p.progress.failed;
    console.log(`\n${backend === 'postgres' ? 'server PostgreSQL' : 'embedded PGlite'}:`);
    console.log(
      `  GET /v1/contacts/{random id} (${CONTACTS} contacts) at ${RATE} req/s, 16 connections, autocannon in the bench process, sluice serve --sandbox in its own`,
    );
    report(`no batch, ${idle.seconds} s`, idle);
    report(`batch running, ${busy.seconds} s`, busy);
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
if (BACKEND === 'postgres' || BACKEND === 'both') await scenario('postgres');
if (BACKEND === 'pglite' || BACKEND === 'both') await scenario('pglite');
