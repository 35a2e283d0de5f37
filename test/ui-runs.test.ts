import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from './helpers/backends.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';
import { uiClient } from './helpers/ui-client.ts';

async function seed(h: ServerHarness) {
  await h.db.exec(`
    INSERT INTO accounts (name, domain) VALUES ('Pine Hills Golf', 'pinehills.example'), ('Oak Links', 'oak.example'),
      ('Birch Course', 'birch.example');
    INSERT INTO batches (pipeline, total, budget_usd) VALUES ('golf-courses', 3, 5);
    INSERT INTO runs (batch_id, pipeline, account_id, state, finished_at, cost_usd, error_class, error)
      VALUES (1, 'golf-courses', 1, 'enriched', now(), 0.02, NULL, NULL),
             (1, 'golf-courses', 2, 'failed', now(), 0.01, 'throttled', 'hunter answered 429 past the ceiling'),
             (1, 'golf-courses', 3, 'queued', NULL, 0, NULL, NULL);
    INSERT INTO run_steps (run_id, step_key, status, output, calls, cost_usd, completed_at)
      VALUES (1, 'website', 'found', '{"data": {"website": "https://pinehills.example"}}', 1, 0.02, now());
  `);
  await h.db.query(
    `INSERT INTO ledger (created_at, provider, operation, run_id, batch_id, attempt, cache, status, http_status, cost_usd, latency_ms, error_class, error)
     VALUES (now() - interval '1 second', 'hunter', 'domain-search', 1, 1, 1, 'miss', 'found', 200, 0.02, 120, NULL, NULL),
            (now(), 'hunter', 'domain-search', 2, 1, 1, 'miss', 'error', 429, 0.01, 80, 'throttled', 'slow down')`,
  );
}

describeEachBackend('dashboard batches and runs', (backend) => {
  let h: ServerHarness;
  let ui: ReturnType<typeof uiClient>;
  beforeAll(async () => {
    h = await openServerHarness(backend);
    await seed(h);
    ui = uiClient(h.app);
    await ui.login(h.writeKey);
  });
  afterAll(() => h.close());

  it('lists batches with progress and cost against the budget', async () => {
    const page = await ui.get('/batches');
    expect(page.status).toBe(200);
    expect(page.html).toContain('href="/batches/1"');
    expect(page.html).toContain('2/3 done');
    expect(page.html).toContain('$0.03');
    expect(page.html).toContain('of $5.00');
  });

  it('shows a batch; stop, resume with a new budget and rerun only what failed', async () => {
    const page = await ui.get('/batches/1');
    expect(page.html).toContain('throttled');
    expect(page.html).toContain('ETA at the pace of the last 5 minutes');
    expect(page.html).toMatch(/forecast of the 1 open runs: ≤ \d+ paid calls, ≤ \$[\d.]+, at least/);
    expect(page.html).toContain('Rerun only what failed (1 runs)');
    const stop = await ui.post('/batches/1/stop');
    expect(stop.status).toBe(303);
    const stopped = await h.db.query<{ status: string; stop_reason: string }>(
      'SELECT status, stop_reason FROM batches',
    );
    expect(stopped.rows[0]).toMatchObject({ status: 'stopped' });
    expect(stopped.rows[0]!.stop_reason).toContain('dashboard');
    expect((await ui.get(stop.location!)).html).toContain('stopped: stopped from the dashboard');
    const bad = await ui.post('/batches/1/resume', { budget: '-3' });
    expect(decodeURIComponent(bad.location!)).toContain('budget must be an amount');
    const resume = await ui.post('/batches/1/resume', { budget: '7.5' });
    expect(resume.status).toBe(303);
    const b = await h.db.query<{ status: string; budget_usd: number }>(
      'SELECT status, budget_usd FROM batches',
    );
    expect(b.rows[0]).toEqual({ status: 'running', budget_usd: 7.5 });
    const rerun = await ui.post('/batches/1/rerun-failed');
    expect(decodeURIComponent(rerun.location!)).toContain('1 failed runs of batch 1 queued again');
    const r = await h.db.query<{ state: string }>('SELECT state FROM runs WHERE id = 2');
    expect(r.rows[0]!.state).toBe('queued');
    // an unknown batch is a 404 page, not a stack trace
    const missing = await ui.get('/batches/99');
    expect(missing.status).toBe(404);
    expect(missing.html).toContain('batch 99 does not exist');
  });

  it('filters runs from the URL, searches inputs and errors, and acts on everything matching', async () => {
    await h.db.exec(
      `UPDATE runs SET state = 'failed', error_class = 'throttled', error = 'hunter answered 429 past the ceiling', finished_at = now() WHERE id = 2`,
    );
    const failed = await ui.get('/runs?state=failed');
    expect(failed.html).toContain('href="/runs/2"');
    expect(failed.html).not.toContain('href="/runs/1"');
    expect(failed.html).toContain('<option value="failed" selected');
    const byInput = await ui.get('/runs?q=pinehills');
    expect(byInput.html).toContain('href="/runs/1"');
    expect(byInput.html).not.toContain('href="/runs/2"');
    const byError = await ui.get('/runs?q=429%20past');
    expect(byError.html).toContain('href="/runs/2"');
    // case does not matter; an account renamed after its run is found by its new name (migration 0040)
    expect((await ui.get('/runs?q=HUNTER%20Answered')).html).toContain('href="/runs/2"');
    await h.db.exec(
      `UPDATE accounts SET name = 'Renamed Dunes' WHERE id = (SELECT account_id FROM runs WHERE id = 1)`,
    );
    const renamed = await ui.get('/runs?q=renamed%20DUNES');
    expect(renamed.html).toContain('href="/runs/1"');
    expect(renamed.html).not.toContain('href="/runs/2"');
    // search text is data, not a LIKE pattern
    expect((await ui.get('/runs?q=%25')).html).toContain('no run matches');
    const byProvider = await ui.get('/runs?provider=hunter&error=throttled');
    expect(byProvider.html).toContain('href="/runs/2"');
    expect(byProvider.html).toContain('1 matching runs');
    const bad = await ui.get('/runs?since=yesterday-ish');
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('since must be a date');
    const retry = await ui.post('/runs/retry', { state: 'failed' });
    expect(decodeURIComponent(retry.location!)).toContain('1 failed runs queued again');
    expect(retry.location).toContain('state=failed');
    const cancel = await ui.post('/runs/cancel', { q: 'birch' });
    expect(decodeURIComponent(cancel.location!)).toContain('1 queued runs cancelled');
    const states = await h.db.query<{ id: number; state: string; error_class: string | null }>(
      'SELECT id, state, error_class FROM runs ORDER BY id',
    );
    expect(states.rows).toEqual([
      { id: 1, state: 'enriched', error_class: null },
      { id: 2, state: 'queued', error_class: null },
      { id: 3, state: 'failed', error_class: 'cancelled' },
    ]);
  });

  it("shows a run's steps and calls on one timeline", async () => {
    const page = await ui.get('/runs/1');
    expect(page.status).toBe(200);
    const timeline = page.html.slice(page.html.indexOf('id="timeline"'));
    const call = timeline.indexOf('call hunter.domain-search');
    const step = timeline.indexOf('step website');
    expect(call).toBeGreaterThan(0);
    expect(step).toBeGreaterThan(call);
    expect(timeline).toContain('120 ms');
    expect(timeline).toContain('pinehills.example');
  });
  it('before any run finished lately, the ETA comes from the forecast of the open runs', async () => {
    await h.db.exec(`
      INSERT INTO batches (pipeline, total) VALUES ('golf-courses', 2);
      INSERT INTO runs (batch_id, pipeline, account_id) VALUES (currval(pg_get_serial_sequence('batches', 'id')), 'golf-courses', 2),
        (currval(pg_get_serial_sequence('batches', 'id')), 'golf-courses', 3);
    `);
    const id = (await h.db.query<{ id: number }>('SELECT max(id)::int AS id FROM batches')).rows[0]!.id;
    const frag = await ui.get(`/batches/${id}?fragment=1`, { 'hx-request': 'true' });
    expect(frag.html).toMatch(/ETA from the forecast: at least \d/);
    expect(frag.html).toContain('forecast of the 2 open runs');
  });
});
