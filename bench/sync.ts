/**
 * `npm run bench:sync [-- --contacts N] [--per-account K] [--concurrency C] [--database-url URL]`
 *
 * Syncs N enriched golf-course contacts (default 10,000, K = 4 per course) to the HubSpot fake at
 * HubSpot's real limits (190 requests per rolling 10 s; the fake refuses anything over), with the
 * built-in golf-courses-hubspot definition: companies upserted on sluice_id, contacts batch-upserted
 * (100 per request) and associated. Prints the time the requests took against the fastest schedule
 * the limit allows for the same number of requests (target >= 0.9), against the sustained rate
 * (19/s), throttles and the busiest 10 s the fake saw, then syncs again with nothing changed
 * (target: 0 requests). Embedded PGlite in memory unless --database-url is given. The fake runs in a
 * child process (bench/hubspot-fake-child.ts) so its arrival stamps do not lag with the sender's
 * event loop; `--in-process` puts it in this process as before.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openDb } from '../src/db/open-db.ts';
import { type FieldObservation, writeFieldValues } from '../src/records/field-values.ts';
import type { CrmFakeStats } from '../src/sandbox/fakes/crm/crm-kit.ts';
import { createHubSpotFake } from '../src/sandbox/fakes/crm/hubspot.ts';
import { listen } from '../src/sandbox/fakes/fake-kit.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const CONTACTS = Number(arg('contacts') ?? 10_000);
const PER = Number(arg('per-account') ?? 4);
const LIMIT = 190;
const WINDOW_MS = 10_000;

/** The earliest time the k-th of n requests may go under "at most LIMIT in any WINDOW_MS" (greedy = optimal). */
function fastestMs(n: number): number {
  return n <= LIMIT ? 0 : Math.floor((n - 1) / LIMIT) * WINDOW_MS;
}

async function seed(db: Awaited<ReturnType<typeof openDb>>): Promise<void> {
  const courses = Math.ceil(CONTACTS / PER);
  const segments = ['high-end', 'budget', 'both'];
  for (let start = 0; start < courses; start += 500) {
    const n = Math.min(500, courses - start);
    await db.transaction(async (tx) => {
      const acc = await tx.query<{ id: string }>(
        `INSERT INTO accounts (name) SELECT 'Course ' || g FROM generate_series($1::int, $2::int) g RETURNING id`,
        [start + 1, start + n],
      );
      const obs: FieldObservation[] = [];
      for (const [i, row] of acc.rows.entries()) {
        const id = Number(row.id);
        const k = start + i + 1;
        const a = (field: string, value: unknown) =>
          obs.push({ entityType: 'account', entityId: id, field, value, source: 'step', runId: 1 });
        a('name', `Course ${k} Golf Club`);
        a('domain', `course${k}.example`);
        a('segment', segments[k % 3]);
        a('segment_confidence', 7 + (k % 3));
        a('opportunity_range_ball_lease', 9);
        a('opportunity_range_ball_buy', 8);
        a('conversation_starters', [
          { text: `I noticed Course ${k}...`, score: 9 },
          { text: 'How is the range holding up?', score: 6 },
        ]);
        const per = Math.min(PER, CONTACTS - (k - 1) * PER);
        const c = await tx.query<{ id: string }>(
          'INSERT INTO contacts (account_id) SELECT $1 FROM generate_series(1, $2::int) RETURNING id',
          [id, per],
        );
        for (const [j, cr] of c.rows.entries()) {
          const cid = Number(cr.id);
          const p = (field: string, value: unknown) =>
            obs.push({ entityType: 'contact', entityId: cid, field, value, source: 'step', runId: 1 });
          p('first_name', `First${cid}`);
          p('last_name', `Last${cid}`);
          p('full_name', `First${cid} Last${cid}`);
          p('title', j === 0 ? 'General Manager' : 'Head Pro');
          p('email', `first${cid}.last${cid}@course${k}.example`);
          p('phone', `+1804${String(5_000_000 + cid).padStart(7, '0')}`);
        }
      }
      await writeFieldValues(tx, obs);
    });
  }
}

const db = await openDb(arg('database-url') ? { databaseUrl: arg('database-url')! } : { memory: true });
try {
  await db.exec(
    'TRUNCATE accounts, contacts, field_values, sync_records, sync_outbox, sync_runs, rate_limits RESTART IDENTITY CASCADE',
  );
  const t0 = Date.now();
  await seed(db);
  console.log(
    `seeded ${CONTACTS} contacts in ${Math.ceil(CONTACTS / PER)} courses (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  const fake = await startFake(args.includes('--in-process'));
  try {
    const def = await loadSync('golf-courses-hubspot');
    const env = { HUBSPOT_ACCESS_TOKEN: fake.apiKey };
    const baseUrl = fake.url;
    const started = Date.now();
    const first = await runSync({
      db,
      def,
      env,
      baseUrl,
      ...(arg('concurrency') ? { concurrency: Number(arg('concurrency')) } : {}),
    });
    const wall = (Date.now() - started) / 1000;
    const stats = await fake.stats();
    const a = stats.arrivals;
    const spanMs = a.length > 1 ? a[a.length - 1]! - a[0]! : 0;
    const n = a.length;
    const best = fastestMs(n);
    const sustained = ((n - 1) * WINDOW_MS) / LIMIT;
    const c = first.counts;
    console.log(
      `first sync: ${c.created} created, ${c.permanent} permanent, ${c.retryable} retryable; ${stats.requests} requests (${JSON.stringify(stats.byRoute)})`,
    );
    console.log(
      `requests from first to last: ${(spanMs / 1000).toFixed(2)} s (wall ${wall.toFixed(1)} s incl. connect and database work)`,
    );
    console.log(
      `fastest the limit allows for ${n} requests (${LIMIT} in any rolling ${WINDOW_MS / 1000} s, bursts allowed): ${(best / 1000).toFixed(2)} s → ratio ${spanMs ? (best / spanMs).toFixed(3) : 'n/a'} (target >= 0.9)`,
    );
    console.log(
      `at the sustained rate (${LIMIT / (WINDOW_MS / 1000)}/s, no burst): ${(sustained / 1000).toFixed(2)} s → ratio ${spanMs ? (sustained / spanMs).toFixed(3) : 'n/a'}`,
    );
    if (n > LIMIT)
      console.log(
        `request ${n - LIMIT} (the one the last must wait a window for) arrived ${((a[n - LIMIT - 1]! - a[0]!) / 1000).toFixed(2)} s after the first; request ${LIMIT} at ${((a[LIMIT - 1]! - a[0]!) / 1000).toFixed(2)} s`,
      );
    console.log(
      `throttled (429) by the fake: ${stats.throttled}; busiest ${WINDOW_MS / 1000} s seen by the fake: ${stats.maxSeen} of ${LIMIT}`,
    );
    const before = stats.requests;
    const second = await runSync({ db, def, env, baseUrl });
    console.log(
      `re-sync with nothing changed: ${(await fake.stats()).requests - before} requests (${second.counts.unchanged} unchanged; target 0)`,
    );
  } finally {
    await fake.close();
  }
} finally {
  await db.close();
}

/** The HubSpot fake at the real limit, in a child process unless asked otherwise. */
async function startFake(inProcess: boolean): Promise<{
  url: string;
  apiKey: string;
  stats(): Promise<CrmFakeStats & { maxSeen: number }>;
  close(): Promise<void>;
}> {
  if (inProcess) {
    const f = createHubSpotFake({ per10s: LIMIT });
    const server = await listen(f.app, 0);
    return {
      url: server.url,
      apiKey: f.apiKey,
      stats: async () => ({ ...f.stats, maxSeen: f.window.maxSeen }),
      close: () => server.close(),
    };
  }
  const script = fileURLToPath(new URL('./hubspot-fake-child.ts', import.meta.url));
  const proc = spawn(
    process.execPath,
    [
      ...(process.env.FAKE_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FAKE_PROF}`] : []),
      '--import',
      'tsx',
      script,
    ],
    {
      env: { ...process.env, HUBSPOT_FAKE: JSON.stringify({ per10s: LIMIT }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const started = await new Promise<{ url: string; apiKey: string }>((resolve, reject) => {
    proc.stdout!.once('data', (d: Buffer) =>
      resolve(JSON.parse(d.toString()) as { url: string; apiKey: string }),
    );
    proc.once('exit', (code) => reject(new Error(`the HubSpot fake exited with ${code}`)));
  });
  return {
    ...started,
    stats: async () =>
      (await (await fetch(`${started.url}/__stats`)).json()) as CrmFakeStats & { maxSeen: number },
    close: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}
