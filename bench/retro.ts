/**
 * `npm run bench:retro [-- --records N] [--repeat N] [--batches N] [--postgres [--keep]] [--data-dir DIR] [--profile]`
 *
 * `sluice retro` on an engagement whose deployment ran over 100,000 records (default): one batch of
 * N runs, each with a website step and an email waterfall step (3 attempts), field values for ~80% of
 * the accounts, 2 ledger rows per run (some errors and retries), failed and partial runs. Embedded
 * PGlite by default (`--postgres`: a fresh schema on DATABASE_URL, default the local test server).
 * Prints the time the batch figures take to store when the batch ends (once), the time to gather and
 * render the retrospective from them (median of --repeat, default 5, after one warm-up), the time of the outcome refresh every learning command does first, and the ratio to the
 * 1 s target. Figures, not asserts.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Db, Queryable } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { storeBatchFigures } from '../src/engine/batch-figures.ts';
import {
  attachBatch,
  createDeployment,
  ensureEngagement,
  patternVersionId,
} from '../src/learning/deployments.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { refreshLearning } from '../src/learning/refresh.ts';
import { generateRetro } from '../src/learning/retro/write-retro.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const N = arg('records', 100_000);
const REPEAT = arg('repeat', 5);
const BATCHES = arg('batches', 1);
const postgres = args.includes('--postgres');
const profile = args.includes('--profile');
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bench_retro_${randomBytes(4).toString('hex')}`;
// --profile: each statement's time, slowest first (a transaction's statements included)
const timed: { ms: number; sql: string }[] = [];
function timedDb<T extends Queryable>(target: T, _label: string): T {
  // one statement at a time (statements started together would otherwise each count the queue's wait)
  let turn: Promise<unknown> = Promise.resolve();
  const wrap = (q: Queryable['query']) => (text: string, params?: readonly unknown[]) => {
    const run = turn.then(async () => {
      const s0 = performance.now();
      const r = await q(text, params);
      timed.push({ ms: performance.now() - s0, sql: text.replace(/\s+/g, ' ').slice(0, 110) });
      return r;
    });
    turn = run.catch(() => {});
    return run;
  };
  const spy = Object.create(target) as T & { transaction?: Db['transaction'] };
  spy.query = wrap(target.query.bind(target)) as T['query'];
  const tx = (target as unknown as Db).transaction?.bind(target);
  if (tx)
    spy.transaction = ((fn: (t: Queryable) => Promise<unknown>) =>
      tx((t) => fn(timedDb(t, _label)))) as Db['transaction'];
  return spy;
}
function printTimed(label: string): void {
  console.log(`${label}: slowest statements`);
  for (const t of timed.sort((a, b) => b.ms - a.ms).slice(0, 8))
    console.log(`  ${t.ms.toFixed(0)} ms  ${t.sql}`);
  timed.length = 0;
}
const dataDir = args.includes('--data-dir') ? args[args.indexOf('--data-dir') + 1] : undefined;
const db = postgres
  ? await openDb({ databaseUrl: url, schema })
  : dataDir
    ? await openDb({ dataDir })
    : await openDb({ memory: true });
const t0 = performance.now();
try {
  await syncLibrary(db);
  await db.query(
    `INSERT INTO accounts (name, domain) SELECT 'Course ' || i, 'c' || i || '.test' FROM generate_series(1, $1) i`,
    [N],
  );
  // --batches N: the records split over N batches of the deployment (the pooled, non-additive path)
  const batchIds = (
    await db.query<{ id: number }>(
      `INSERT INTO batches (pipeline, status, total, created_at, finished_at)
       SELECT 'golf-courses', 'done', $1 / $2, now() - interval '2 hours', now() FROM generate_series(1, $2)
       RETURNING id`,
      [N, BATCHES],
    )
  ).rows.map((r) => Number(r.id));
  await db.query(
    `INSERT INTO runs (batch_id, pipeline, account_id, state, error_class, failed_calls, calls, cache_hits,
                       cost_usd, created_at, started_at, finished_at)
     SELECT ($1::bigint[])[1 + a.id % array_length($1::bigint[], 1)], 'golf-courses', a.id,
            CASE WHEN a.id % 50 = 0 THEN 'failed' WHEN a.id % 20 = 0 THEN 'partial' ELSE 'enriched' END,
            CASE WHEN a.id % 50 = 0 THEN (ARRAY['critical', 'quota_exhausted'])[1 + a.id % 2] END,
            CASE WHEN a.id % 20 = 0 AND a.id % 50 <> 0 THEN 1 ELSE 0 END, 2, 0, 0.02,
            now() - interval '2 hours', now() - interval '2 hours',
            now() - interval '2 hours' + (1 + a.id % 17) * interval '1 second'
       FROM accounts a`,
    [batchIds],
  );
  await db.query(
    `INSERT INTO run_steps (run_id, step_key, status, output, cost_usd)
     SELECT r.id, 'website', CASE WHEN r.id % 4 = 0 THEN 'not_found' ELSE 'found' END,
            '{"status": "found", "writes": [], "data": {}}', 0.005 FROM runs r WHERE r.batch_id = ANY($1::bigint[])
     UNION ALL
     SELECT r.id, 'emails/emails.email/id:' || r.id, CASE WHEN r.id % 5 = 0 THEN 'not_found' ELSE 'found' END,
            jsonb_build_object('status', 'found', 'writes', '[]'::jsonb, 'data', jsonb_build_object('attempts',
              jsonb_build_array(
                jsonb_build_object('provider', 'email-pattern', 'operation', 'infer-email',
                                   'result', CASE WHEN r.id % 3 = 0 THEN 'hit' ELSE 'not_found' END),
                jsonb_build_object('provider', 'hunter', 'operation', 'email-finder',
                                   'result', CASE WHEN r.id % 3 = 0 THEN 'skipped' ELSE 'hit' END),
                jsonb_build_object('provider', 'apollo', 'operation', 'people-match', 'result', 'skipped')))),
            0.015
       FROM runs r WHERE r.batch_id = ANY($1::bigint[])`,
    [batchIds],
  );
  await db.query(
    `INSERT INTO field_values (entity_type, entity_id, field, value, source, provider, run_id)
     SELECT 'account', r.account_id, 'website', to_jsonb('https://c' || r.account_id || '.test'), 'provider',
            'perplexity', r.id FROM runs r WHERE r.batch_id = ANY($1::bigint[]) AND r.id % 5 <> 0
     UNION ALL
     SELECT 'contact', r.account_id, 'email', to_jsonb('a@c' || r.account_id || '.test'), 'provider', 'hunter', r.id
       FROM runs r WHERE r.batch_id = ANY($1::bigint[]) AND r.id % 5 <> 0 AND r.id % 3 <> 0`,
    [batchIds],
  );
  await db.query(
    `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, error_class, cost_usd, latency_ms)
     SELECT 'perplexity', 'search', r.id, r.batch_id, 1, 'miss', 'found', NULL, 0.005, 300 + r.id % 200
       FROM runs r WHERE r.batch_id = ANY($1::bigint[])
     UNION ALL
     SELECT 'hunter', 'email-finder', r.id, r.batch_id, CASE WHEN r.id % 20 = 0 THEN 2 ELSE 1 END, 'miss',
            CASE WHEN r.id % 50 = 0 THEN 'error' WHEN r.id % 5 = 0 THEN 'not_found' ELSE 'found' END,
            CASE WHEN r.id % 50 = 0 THEN 'retryable' END, 0.015, 200 + r.id % 100
       FROM runs r WHERE r.batch_id = ANY($1::bigint[])`,
    [batchIds],
  );
  const engagement = await ensureEngagement(db, {
    slug: 'bench',
    name: 'Retro bench (100k records)',
    industry: 'golf',
    plannedStart: '2026-01-01',
    plannedEnd: '2026-02-01',
    budgetPlannedUsd: 2000,
  });
  const deployment = await createDeployment(db, {
    engagementId: engagement,
    patternVersionId: await patternVersionId(db, 'golf-courses'),
    pipeline: 'golf-courses',
  });
  for (const b of batchIds) await attachBatch(db, deployment, b);
  await db.exec('ANALYZE');
  console.log(
    `seeded ${N} records in ${BATCHES} batch(es) on ${db.backend} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  // what settleBatch does when the batch ends (the bench's batch was inserted as done: this is also the
  // backfill a batch that ended before migration 0043 gets on its first read)
  const f0 = performance.now();
  const figuresEach: number[] = [];
  for (const b of batchIds) {
    const s0 = performance.now();
    await storeBatchFigures(profile ? timedDb(db, `store batch ${b}`) : db, b);
    figuresEach.push(performance.now() - s0);
  }
  if (profile) printTimed(`store batch figures`);
  const figuresMs = performance.now() - f0;
  const r0 = performance.now();
  await refreshLearning(db);
  const refreshMs = performance.now() - r0;
  await generateRetro(db, 'bench'); // warm-up
  if (profile) {
    await generateRetro(timedDb(db, 'retro'), 'bench');
    printTimed('retro');
  }
  const times: number[] = [];
  let lines = 0;
  const cpu: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const c0 = process.cpuUsage();
    const r = await generateRetro(db, 'bench');
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    times.push(r.ms);
    lines = r.markdown.split('\n').length;
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(
    `retro: ${lines} lines; median ${median.toFixed(0)} ms of ${REPEAT} (min ${times[0]!.toFixed(0)}, max ${times.at(-1)!.toFixed(0)})`,
  );
  // on PGlite the database runs in this process: CPU time is what the retrospective costs on an idle machine
  console.log(
    `process CPU per retro: median ${cpu[Math.floor(cpu.length / 2)]!.toFixed(0)} ms${postgres ? " (the server's own CPU not included)" : ''}`,
  );
  console.log(
    `batch figures stored at batch end, once: ${figuresMs.toFixed(0)} ms${BATCHES > 1 ? ` (each: ${figuresEach.map((m) => m.toFixed(0)).join(', ')} ms)` : ''}`,
  );
  console.log(`refresh (library + outcomes), once: ${refreshMs.toFixed(0)} ms`);
  console.log(
    `ratio to the 1 s target: ${(median / 1000).toFixed(2)} (retro), ${((median + refreshMs) / 1000).toFixed(2)} (retro + refresh)`,
  );
} finally {
  if (postgres && !args.includes('--keep')) await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  else if (postgres) console.log(`kept schema ${schema}`);
  await db.close();
}
