/**
 * `npm run bench:ui [-- --contacts N] [--ledger N] [--runs N] [--requests N] [--only a,b] [--keep | --schema S]`
 *
 * The dashboard's server time per page on server PostgreSQL (a fresh schema on DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test) holding 100,000 contacts, 1,000,000 ledger rows and 50,000
 * runs (25,000 accounts, 50 batches, field values, run steps, dead letters, deliveries). Each page is
 * requested in-process through the real app (`app.request`, session cookie and all), after one warm-up,
 * `--requests` times (default 30); prints p50/p95/max per page and the ratio of p95 to the 200 ms target.
 * Also prints how long the first fold of the ledger into its hourly rollup takes. Figures, not asserts.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createApiKey } from '../src/api-keys/api-keys.ts';
import { loadConfig } from '../src/config/config.ts';
import { openDb } from '../src/db/open-db.ts';
import { openRunEngine } from '../src/engine/engine-services.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { createApp } from '../src/server/app.ts';
import { HttpMetrics } from '../src/server/http-metrics.ts';
import { foldLedger } from '../src/ui/queries/ledger-rollup.ts';
import { createSession, SESSION_COOKIE } from '../src/ui/session.ts';
import { defaultInboundRegistry } from '../src/webhooks/inbound/default-sources.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const CONTACTS = arg('contacts', 100_000);
const LEDGER = arg('ledger', 1_000_000);
const RUNS = arg('runs', 50_000);
const REQUESTS = arg('requests', 30);
/** `--keep`: leave the schema (printed) for EXPLAIN; `--schema NAME`: reuse a kept one instead of seeding. */
const KEEP = args.includes('--keep');
const REUSE = (() => {
  const i = args.indexOf('--schema');
  return i >= 0 ? args[i + 1] : undefined;
})();
/** `--only a,b`: just the pages whose name contains one of these. */
const ONLY = (() => {
  const i = args.indexOf('--only');
  return i >= 0 ? (args[i + 1] ?? '').split(',') : undefined;
})();
const ACCOUNTS = Math.max(1, Math.round(CONTACTS / 4));
const BATCHES = 50;
const TARGET_MS = 200;
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = REUSE ?? `bench_ui_${randomBytes(4).toString('hex')}`;

const t0 = performance.now();
const since = (t: number) => `${((performance.now() - t) / 1000).toFixed(1)} s`;
const db = await openDb({ databaseUrl: url, schema });
const engine = await openRunEngine(loadConfig({}), db);
try {
  let t = performance.now();
  if (!REUSE) await seed();
  async function seed() {
    await db.exec(`
    INSERT INTO accounts (name, name_key, domain, website, phone, city, state, segment)
      SELECT 'Course ' || g, 'course ' || g, 'course' || g || '.example', 'https://course' || g || '.example',
             CASE WHEN g % 3 = 0 THEN NULL ELSE '+1540555' || lpad((g % 10000)::text, 4, '0') END,
             'City ' || (g % 300), (ARRAY['VA','NC','MD','TX','CA'])[1 + g % 5], CASE WHEN g % 2 = 0 THEN 'high-end' END
        FROM generate_series(1, ${ACCOUNTS}) g;
    INSERT INTO contacts (account_id, first_name, last_name, full_name, name_key, title, email)
      SELECT 1 + (g % ${ACCOUNTS}), 'First' || g, 'Last' || g, 'First' || g || ' Last' || g, 'first' || g || ' last' || g,
             (ARRAY['General Manager','Head Pro','Owner','Superintendent'])[1 + g % 4],
             CASE WHEN g % 5 = 0 THEN NULL ELSE 'person' || g || '@course' || (1 + g % ${ACCOUNTS}) || '.example' END
        FROM generate_series(1, ${CONTACTS}) g;
    INSERT INTO field_values (entity_type, entity_id, field, value, source, import_id, observed_at)
      SELECT 'account', id, f, to_jsonb(CASE f WHEN 'name' THEN name WHEN 'domain' THEN domain ELSE website END), 'import', 1,
             now() - interval '40 days'
        FROM accounts, unnest(ARRAY['name', 'domain', 'website']) f;
    INSERT INTO field_values (entity_type, entity_id, field, value, source, provider, operation, cost_usd, confidence, observed_at)
      SELECT 'contact', id, 'email', to_jsonb(email), 'provider', 'hunter', 'email-finder', 0.049, 0.9, now() - interval '3 days'
        FROM contacts WHERE email IS NOT NULL;
    INSERT INTO batches (pipeline, status, total, budget_usd, created_at, finished_at)
      SELECT 'golf-courses', CASE WHEN g = ${BATCHES} THEN 'running' ELSE 'done' END, ${Math.ceil(RUNS / BATCHES)}, 50,
             now() - make_interval(hours => ${BATCHES} - g), CASE WHEN g = ${BATCHES} THEN NULL ELSE now() END
        FROM generate_series(1, ${BATCHES}) g;
    INSERT INTO runs (batch_id, pipeline, account_id, state, attempts, error_class, error, failed_calls, calls, cache_hits,
                      cost_usd, created_at, finished_at, updated_at)
      SELECT 1 + (g - 1) / ${Math.ceil(RUNS / BATCHES)}, 'golf-courses', 1 + (g % ${ACCOUNTS}), s.state, 1,
             CASE s.state WHEN 'failed' THEN (ARRAY['retryable','throttled','critical'])[1 + g % 3] END,
             CASE s.state WHEN 'failed' THEN 'hunter: timeout after 15 s (attempt 3 of 3)' END,
             CASE WHEN s.state IN ('failed', 'partial') AND g % 2 = 0 THEN 1 ELSE 0 END, 5, 1, 0.12,
             now() - make_interval(mins => g % 1440), CASE WHEN s.state NOT IN ('queued', 'running') THEN now() - make_interval(mins => g % 1440) END,
             now() - make_interval(mins => g % 1440)
        FROM generate_series(1, ${RUNS}) g,
             LATERAL (SELECT CASE WHEN g % 100 < 80 THEN 'enriched' WHEN g % 100 < 90 THEN 'partial'
                                  WHEN g % 100 < 97 THEN 'failed' ELSE 'queued' END AS state) s;
    INSERT INTO run_steps (run_id, step_key, status, output, calls, cost_usd)
      SELECT id, k, CASE WHEN state = 'failed' AND k = 'email' THEN 'failed' ELSE 'found' END,
             CASE WHEN state = 'failed' AND k = 'email'
                  THEN '{"data": {"errors": [{"step": "email", "provider": "hunter", "operation": "email-finder", "errorClass": "retryable", "message": "timeout"}]}}'
                  ELSE '{"data": {}}' END::jsonb, 1, 0.05
        FROM runs, unnest(ARRAY['website', 'email']) k WHERE state <> 'queued';
    INSERT INTO ledger (created_at, provider, operation, run_id, batch_id, attempt, cache, status, http_status, cost_usd,
                        saved_usd, latency_ms, error_class, error)
      SELECT now() - interval '2 minutes' - make_interval(secs => (${LEDGER} - g)::float8 * 30 * 86400 / ${LEDGER}), p.provider, p.operation, 1 + (g % ${RUNS}),
             1 + ((g % ${RUNS}) / ${Math.ceil(RUNS / BATCHES)}),
             CASE WHEN g % 10 < 3 THEN 0 ELSE 1 END, CASE WHEN g % 10 < 3 THEN 'hit' ELSE 'miss' END,
             CASE WHEN g % 20 = 0 THEN 'error' WHEN g % 10 < 7 THEN 'found' ELSE 'not_found' END,
             CASE WHEN g % 10 < 3 THEN NULL WHEN g % 40 = 0 THEN 429 ELSE 200 END,
             CASE WHEN g % 10 < 3 THEN 0 ELSE p.price END, CASE WHEN g % 10 < 3 THEN p.price ELSE 0 END,
             20 + g % 900, CASE WHEN g % 40 = 0 THEN 'throttled' WHEN g % 20 = 0 THEN 'retryable' END,
             CASE WHEN g % 20 = 0 THEN 'HTTP 502' END
        FROM generate_series(1, ${LEDGER}) g,
             LATERAL (SELECT (ARRAY['hunter','apollo','google-places','perplexity','llm'])[1 + g % 5] AS provider,
                             (ARRAY['email-finder','people-match','details','chat','generate'])[1 + g % 5] AS operation,
                             (ARRAY[0.049, 0.03, 0.017, 0.005, 0.002])[1 + g % 5]::numeric AS price) p;
    INSERT INTO webhook_endpoints (url, secret) VALUES ('https://hooks.example/sluice', 'whsec_bench');
    INSERT INTO webhook_deliveries (message_id, endpoint_id, event_type, payload, state, attempts, created_at)
      SELECT 'msg_' || g, 1, 'job.completed', '{}', (ARRAY['succeeded','failed','pending'])[1 + g % 3], 1 + g % 3,
             now() - make_interval(mins => g)
        FROM generate_series(1, 5000) g;
    INSERT INTO hook_events (source, event_id, body, state, received_at)
      SELECT 'rb2b', 'evt_' || g, '{}', 'processed', now() - make_interval(mins => g) FROM generate_series(1, 5000) g;
    ANALYZE;
  `);
    console.log(
      `data: ${ACCOUNTS.toLocaleString()} accounts, ${CONTACTS.toLocaleString()} contacts, ${RUNS.toLocaleString()} runs, ${LEDGER.toLocaleString()} ledger rows in ${since(t)} (schema ${schema})`,
    );
    t = performance.now();
    const folded = await foldLedger(db);
    console.log(
      `first fold of the ledger into ledger_hourly: ${folded.toLocaleString()} rows in ${since(t)} (once; later folds take only new rows)`,
    );
    // a realistic unfolded tail: the last minute's calls
    await db.exec(`
    INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, cost_usd, latency_ms)
      SELECT 'hunter', 'email-finder', 1 + g, ${BATCHES}, 1, 'miss', 'found', 0.049, 100 FROM generate_series(1, 2000) g;
    ANALYZE ledger;`);
  }

  const app = createApp({
    db,
    engine,
    hooks: defaultInboundRegistry(),
    env: {},
    metrics: new HttpMetrics(),
    callbacks: {},
    workers: 0,
    startedAt: new Date(),
  });
  const { apiKey } = await createApiKey(db, { name: 'bench', scopes: ['admin'] });
  const session = await createSession(db, apiKey);
  const headers = { cookie: `${SESSION_COOKIE}=${session.token}`, host: 'localhost' };
  const failedRun = (await db.query<{ id: number }>(`SELECT min(id) AS id FROM runs WHERE state = 'failed'`))
    .rows[0]!.id;
  const pages: [string, string][] = [
    ['overview', '/'],
    ['overview (live fragment)', '/?fragment=1'],
    ['batches', '/batches'],
    ['batch', `/batches/${BATCHES}`],
    ['runs', '/runs'],
    ['runs state=failed', '/runs?state=failed'],
    ['runs provider+error', '/runs?provider=hunter&error=throttled'],
    ['runs search', '/runs?q=timeout'],
    ['run', `/runs/${failedRun}`],
    ['records accounts', '/records?type=account'],
    ['records contacts email error|not run', '/records?type=contact&field=email&status=error&status=not_run'],
    ['lineage', '/records/contact/1/lineage/email'],
    ['dead letters', '/dead-letters'],
    ['spend by day', '/spend'],
    ['spend by provider', '/spend?by=provider'],
    ['spend by pipeline', '/spend?by=pipeline'],
    ['spend by record', `/spend?batch=${BATCHES}`],
    ['spend CSV by batch', '/spend.csv?by=batch'],
    ['providers', '/providers'],
    ['deliveries', '/deliveries'],
    ['start', '/start'],
  ];
  const rows: string[][] = [];
  let worst = 0;
  for (const [name, path] of pages.filter(([n]) => !ONLY || ONLY.some((o) => n.includes(o)))) {
    const first = await app.request(path, { headers });
    if (first.status !== 200)
      throw new Error(`${path}: HTTP ${first.status}: ${(await first.text()).slice(0, 300)}`);
    await first.arrayBuffer();
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const s = performance.now();
      const res = await app.request(path, { headers });
      await res.arrayBuffer();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
    const p95 = q(0.95);
    worst = Math.max(worst, p95);
    rows.push([
      name,
      path,
      q(0.5).toFixed(1),
      p95.toFixed(1),
      times[times.length - 1]!.toFixed(1),
      (p95 / TARGET_MS).toFixed(2),
    ]);
  }
  const widths = [0, 1, 2, 3, 4, 5].map((i) =>
    Math.max(
      ...rows.map((r) => r[i]!.length),
      ['page', 'path', 'p50 ms', 'p95 ms', 'max ms', 'p95/target'][i]!.length,
    ),
  );
  const line = (r: string[]) =>
    r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(
    `\n${REQUESTS} requests per page after one warm-up, in-process (app.request), server PostgreSQL ${url.replace(/:[^:@/]*@/, ':***@')}`,
  );
  console.log(line(['page', 'path', 'p50 ms', 'p95 ms', 'max ms', 'p95/target']));
  for (const r of rows) console.log(line(r));
  const over = rows.filter((r) => Number(r[3]) > TARGET_MS).map((r) => r[0]);
  console.log(
    `\nworst p95 ${worst.toFixed(1)} ms (target ${TARGET_MS} ms): ${over.length === 0 ? 'every page within target' : `over target: ${over.join(', ')}`}`,
  );
  console.log(`total ${since(t0)}`);
} finally {
  await engine.queue.stop();
  if (KEEP || REUSE) console.log(`schema kept: ${schema} (--schema ${schema} to reuse; drop it when done)`);
  else
    await db
      .exec(
        `DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${bossSchemaFor(schema)}" CASCADE`,
      )
      .catch(() => {});
  await db.close();
}
