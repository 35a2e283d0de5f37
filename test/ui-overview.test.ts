import { afterAll, beforeAll, expect, it } from 'vitest';
import { foldLedger } from '../src/ui/queries/ledger-rollup.ts';
import { readOverview } from '../src/ui/queries/overview.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';
import { uiClient } from './helpers/ui-client.ts';

async function seed(h: ServerHarness) {
  await h.db.exec(`
    INSERT INTO accounts (name, domain) VALUES ('Pine Hills Golf', 'pinehills.example'), ('Oak Links', 'oak.example');
    INSERT INTO batches (pipeline, total, budget_usd) VALUES ('golf-courses', 2, 5);
    INSERT INTO runs (batch_id, pipeline, account_id, state, finished_at, cost_usd)
      SELECT 1, 'golf-courses', id, CASE WHEN id = 1 THEN 'enriched' ELSE 'failed' END, now(), 0.02 FROM accounts;
    INSERT INTO runs (batch_id, pipeline, account_id, state) SELECT 1, 'golf-courses', 1, 'queued';
  `);
  // 3 paid calls ($0.01 each), 2 cache hits (saving $0.01 each); one of them an hour ago
  await h.db.query(
    `INSERT INTO ledger (created_at, provider, operation, run_id, batch_id, attempt, cache, status, cost_usd, saved_usd, latency_ms)
     VALUES (now() - interval '2 hours', 'hunter', 'domain-search', 1, 1, 1, 'miss', 'found', 0.01, 0, 120),
            (now(), 'hunter', 'domain-search', 1, 1, 1, 'miss', 'found', 0.01, 0, 100),
            (now(), 'hunter', 'domain-search', 2, 1, 1, 'miss', 'error', 0.01, 0, 300),
            (now(), 'hunter', 'domain-search', 2, 1, 0, 'hit', 'found', 0, 0.01, 0),
            (now(), 'hunter', 'domain-search', 2, 1, 0, 'hit', 'found', 0, 0.01, 0)`,
  );
}

describeEachBackend('dashboard overview', (backend) => {
  let h: ServerHarness;
  beforeAll(async () => {
    h = await openServerHarness(backend);
    await seed(h);
  });
  afterAll(() => h.close());

  it('counts runs by state, spend, cache hits and savings; the same before and after the ledger is folded', async () => {
    const before = await readOverview(h.db);
    expect(before.runsByState).toEqual({ enriched: 1, failed: 1, queued: 1 });
    expect(before.spend.monthUsd).toBeCloseTo(0.03, 6);
    expect(before.cache).toMatchObject({ hits: 2, misses: 3 });
    expect(before.cache.savedUsd).toBeCloseTo(0.02, 6);
    expect(before.throughput.reduce((s, x) => s + x.runs, 0)).toBe(2);
    expect(before.throughput.reduce((s, x) => s + x.requests, 0)).toBe(3);
    expect(before.health.queue.queuedRuns).toBe(1);
    // rows younger than the lag stay in the tail; lag 0 folds them all
    expect(await foldLedger(h.db)).toBe(1);
    expect(await foldLedger(h.db, { lagSeconds: 0 })).toBe(4);
    expect(await foldLedger(h.db, { lagSeconds: 0 })).toBe(0);
    const after = await readOverview(h.db);
    expect(after.spend).toEqual(before.spend);
    expect(after.cache).toEqual(before.cache);
    expect(after.throughput).toEqual(before.throughput);
    // a row written after the fold is counted once, from the tail
    await h.db.query(
      `INSERT INTO ledger (provider, operation, attempt, cache, status, cost_usd) VALUES ('hunter', 'email-finder', 1, 'miss', 'found', 0.5)`,
    );
    expect((await readOverview(h.db)).spend.monthUsd).toBeCloseTo(0.53, 6);
  });

  it('counts a ledger row whose transaction committed after the fold passed its id, once', async () => {
    const spend = async () => (await readOverview(h.db)).spend.monthUsd;
    await foldLedger(h.db, { lagSeconds: 0 });
    const base = await spend();
    // an id taken by a transaction that commits only later (here: rolled back, and written again below)
    let late = 0;
    await h.db
      .transaction(async (tx) => {
        const r = await tx.query<{ id: string }>(
          `INSERT INTO ledger (provider, operation, attempt, cache, status, cost_usd) VALUES ('hunter', 'email-finder', 1, 'miss', 'found', 0.25) RETURNING id`,
        );
        late = Number(r.rows[0]!.id);
        throw new Error('not yet');
      })
      .catch(() => {});
    await h.db.query(
      `INSERT INTO ledger (provider, operation, attempt, cache, status, cost_usd) VALUES ('hunter', 'email-finder', 1, 'miss', 'found', 0.1)`,
    );
    // (a page view may start a fold of its own in the background: the assertions are on what is stored)
    const gapIds = async () =>
      (await h.db.query<{ id: string }>('SELECT id FROM ledger_rollup_gaps')).rows.map((r) => Number(r.id));
    await foldLedger(h.db, { lagSeconds: 0 }); // passes `late`, noting it
    expect(await gapIds()).toEqual([late]);
    expect(await spend()).toBeCloseTo(base + 0.1, 6);
    await h.db.query(
      `INSERT INTO ledger (id, provider, operation, attempt, cache, status, cost_usd) OVERRIDING SYSTEM VALUE
       VALUES ($1, 'hunter', 'email-finder', 1, 'miss', 'found', 0.25)`,
      [late],
    );
    expect(await spend()).toBeCloseTo(base + 0.35, 6); // readers add it before any fold
    await foldLedger(h.db, { lagSeconds: 0 }); // the late row, folded once
    expect(await gapIds()).toEqual([]);
    expect(await spend()).toBeCloseTo(base + 0.35, 6);
    await foldLedger(h.db, { lagSeconds: 0 });
    expect(await spend()).toBeCloseTo(base + 0.35, 6);
    const hourly = await h.db.query<{ usd: number }>(
      `SELECT sum(cost_usd)::float8 AS usd FROM ledger_hourly WHERE operation = 'email-finder'`,
    );
    expect(hourly.rows[0]!.usd).toBeCloseTo(0.35 + 0.5, 6); // in the rollup itself, once
  });

  it('renders the page and its live fragment', async () => {
    const ui = uiClient(h.app);
    await ui.login(h.writeKey);
    const page = await ui.get('/');
    expect(page.html).toContain('hx-get="/?fragment=1"');
    expect(page.html).toMatch(/href="\/runs\?state=failed">failed<\/a><\/td><td class="num">1</);
    const frag = await ui.get('/?fragment=1', { 'hx-request': 'true' });
    expect(frag.html).not.toContain('<html');
    expect(frag.html).toContain('Runs by state');
    expect(frag.html).toContain('$0.88');
  });
});
