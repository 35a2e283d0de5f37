import { afterAll, beforeAll, expect, it } from 'vitest';
import { listDeadRuns, retryDeadRuns } from '../src/engine/dead-letter.ts';
import { enqueueDelivery, ensureEndpoint } from '../src/webhooks/webhook-store.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';
import { uiClient } from './helpers/ui-client.ts';

async function seed(h: ServerHarness) {
  await h.db.exec(`
    INSERT INTO accounts (name, domain) VALUES ('=HYPERLINK("https://evil.example")', 'evil.example'), ('Oak Links', 'oak.example'),
      ('Birch Course', 'birch.example');
    INSERT INTO batches (pipeline, total) VALUES ('golf-courses', 3);
    INSERT INTO runs (batch_id, pipeline, account_id, state, finished_at, cost_usd, calls, error_class, error, failed_calls)
      VALUES (1, 'golf-courses', 1, 'enriched', now(), 0.04, 2, NULL, NULL, 0),
             (1, 'golf-courses', 2, 'failed', now(), 0.01, 1, 'retryable', 'hunter: 502 after 3 attempts', 1),
             (1, 'golf-courses', 3, 'failed', now(), 0.01, 1, 'retryable', 'hunter: 502 after 3 attempts', 1);
    INSERT INTO run_steps (run_id, step_key, status, output)
      SELECT id, 'email', 'failed', '{"data": {"errors": [{"step": "email", "provider": "hunter", "operation": "email-finder", "errorClass": "retryable", "message": "502"}]}}'
        FROM runs WHERE id IN (2, 3);
  `);
  await h.db.query(
    `INSERT INTO ledger (created_at, provider, operation, run_id, batch_id, attempt, cache, status, http_status, cost_usd, saved_usd, latency_ms, error_class, error)
     VALUES (now() - interval '1 day', 'hunter', 'email-finder', 1, 1, 1, 'miss', 'found', 200, 0.04, 0, 100, NULL, NULL),
            (now(), 'hunter', 'email-finder', 1, 1, 0, 'hit', 'found', NULL, 0, 0.04, 0, NULL, NULL),
            (now(), 'hunter', 'email-finder', 2, 1, 1, 'miss', 'error', 502, 0.01, 0, 300, 'retryable', '502'),
            (now(), 'hunter', 'email-finder', 3, 1, 1, 'miss', 'error', 429, 0.01, 0, 200, 'throttled', 'slow down'),
            (now(), 'hunter', 'email-finder', 3, 1, 2, 'miss', 'error', 502, 0, 0, 500, 'retryable', '502')`,
  );
}

describeEachBackend('dashboard dead letters, deliveries, spend, providers, start work', (backend) => {
  let h: ServerHarness;
  let admin: ReturnType<typeof uiClient>;
  beforeAll(async () => {
    h = await openServerHarness(backend);
    await seed(h);
    admin = uiClient(h.app);
    await admin.login(await h.key(['admin']));
  });
  afterAll(() => h.close());

  it('groups dead letters by error class, step and provider with the redrive forecast; redrive and discard', async () => {
    const page = await admin.get('/dead-letters');
    const groups = page.html.slice(
      page.html.indexOf('id="dead-groups"'),
      page.html.indexOf('id="dead-runs"'),
    );
    expect(groups).toContain('retryable');
    expect(groups).toContain('email');
    expect(groups).toContain('hunter / email-finder');
    expect(groups).toMatch(/<td class="num">2<\/td>/);
    expect(groups).toMatch(/≤ \$0\.\d+/);
    const writer = uiClient(h.app);
    await writer.login(h.writeKey);
    expect((await writer.get('/dead-letters')).html).toContain('needs an admin key');
    expect((await writer.post('/dead-letters/redrive', { id: '2' })).status).toBe(403);
    const redrive = await admin.post('/dead-letters/redrive', { id: '2' });
    expect(decodeURIComponent(redrive.location!)).toContain('1 runs queued again');
    const discard = await admin.post('/dead-letters/discard', { id: '3' });
    expect(decodeURIComponent(discard.location!)).toContain('1 runs discarded');
    const runs = await h.db.query<{ id: number; state: string; error_class: string | null }>(
      'SELECT id, state, error_class FROM runs WHERE id IN (2, 3) ORDER BY id',
    );
    expect(runs.rows).toEqual([
      { id: 2, state: 'queued', error_class: null },
      { id: 3, state: 'failed', error_class: 'discarded' },
    ]);
    expect((await admin.get('/dead-letters')).html).toContain('no dead letters');
    // a discarded run is no dead letter for the engine either: `sluice dlq list` and "redrive all" leave it
    expect((await listDeadRuns(h.db)).map((r) => r.runId)).not.toContain(3);
    expect(await retryDeadRuns(h.db, h.engine.queue, 'all')).not.toContain(3);
    const still = await h.db.query<{ state: string }>('SELECT state FROM runs WHERE id = 3');
    expect(still.rows[0]!.state).toBe('failed');
  });

  it('spends by day, provider, pipeline, batch and record, with a CSV that neutralizes formulas', async () => {
    const byProvider = await admin.get('/spend?by=provider');
    expect(byProvider.html).toContain('hunter');
    expect(byProvider.html).toContain('$0.06');
    const byDay = await admin.get('/spend');
    expect(byDay.html).toContain(new Date().toISOString().slice(0, 10));
    expect((await admin.get('/spend?by=pipeline')).html).toContain('golf-courses');
    expect((await admin.get('/spend?by=batch')).html).toContain('href="/spend?batch=1"');
    const byRecord = await admin.get('/spend?batch=1');
    expect(byRecord.html).toContain('Oak Links');
    const csv = await admin.request('/spend.csv?by=record&batch=1');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const text = await csv.text();
    expect(text.split('\n')[0]).toBe('record,calls,cost_usd,saved_usd');
    expect(text).toContain(`"'=HYPERLINK(""https://evil.example"")",2,0.040000`);
    expect((await admin.get('/spend?by=record')).status).toBe(400);
  });

  it('shows providers: hit rate, errors by class, throttles, latency percentiles, cost per found value', async () => {
    const page = await admin.get('/providers');
    const ops = page.html.slice(
      page.html.indexOf('id="operations"'),
      page.html.indexOf('id="provider-health"'),
    );
    expect(ops).toContain('hunter / email-finder');
    expect(ops).toContain('retryable 2, throttled 1');
    expect(ops).toContain('100.0%');
    expect(ops).toMatch(/<td class="num">1<\/td>/); // one throttle
    expect(ops).toContain('$0.03'); // $0.06 over 2 found values
    // requests took 100, 300, 200 and 500 ms: p50 250, p95 470 (interpolated)
    expect(page.html).toContain('250 ms');
    expect(page.html).toContain('470 ms');
  });

  it('lists deliveries with every attempt and replays one', async () => {
    const { endpoint } = await ensureEndpoint(h.db, 'http://127.0.0.1:9/hook');
    const d = await enqueueDelivery(h.db, {
      endpointId: endpoint.id,
      eventType: 'job.completed',
      payload: { ok: true },
    });
    await h.db.query(
      `UPDATE webhook_deliveries SET state = 'failed', attempts = 1, last_status = 500, finished_at = now() WHERE id = $1`,
      [d.id],
    );
    await h.db.query(
      `INSERT INTO webhook_attempts (delivery_id, attempt, duration_ms, status, outcome, response) VALUES ($1, 1, 12, 500, 'failed', 'oops')`,
      [d.id],
    );
    const list = await admin.get('/deliveries?state=failed');
    expect(list.html).toContain(`href="/deliveries/${d.id}"`);
    const detail = await admin.get(`/deliveries/${d.id}`);
    expect(detail.html).toContain('HTTP 500');
    expect(detail.html).toContain('oops');
    expect(detail.html).toContain(d.messageId);
    const replay = await admin.post(`/deliveries/${d.id}/replay`);
    expect(replay.status).toBe(303);
    const st = await h.db.query<{ state: string }>('SELECT state FROM webhook_deliveries WHERE id = $1', [
      d.id,
    ]);
    expect(st.rows[0]!.state).toBe('pending');
  });

  it('shows refused inbound requests on the deliveries page, with their reason and never their token', async () => {
    const before = await admin.get('/deliveries');
    expect(before.html).toContain('no refused request');
    // an RB2B call with an old token in its path, as the hook route receives it
    const visit = JSON.stringify({ 'Company Name': 'Stale Token Golf', 'Seen At': '2026-01-02T00:00:00Z' });
    const res = await h.app.request('/v1/hooks/rb2b/stale-token-4711', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: visit,
    });
    expect(res.status).toBe(401);
    const page = await admin.get('/deliveries');
    expect(page.status).toBe(200);
    const table = page.html.slice(
      page.html.indexOf('id="hook-rejections"'),
      page.html.indexOf('id="sync-errors"'),
    );
    expect(table).toContain('rb2b');
    expect(table).toContain('wrong token');
    expect(table).toContain('refused');
    expect(table).toContain('/v1/hooks/rb2b/&lt;token&gt;');
    expect(table).toContain(`>${Buffer.byteLength(visit)}<`);
    expect(table).not.toContain('no refused request');
    expect(page.html).not.toContain('stale-token-4711');
  });

  it('starts work: upload a CSV, see the rejected line, forecast, start a batch', async () => {
    const form = new FormData();
    form.append('_csrf', admin.csrf);
    form.append('kind', 'accounts');
    form.append(
      'file',
      new File(['name,website,state\nCedar Golf,cedar.example,VA\nToo,many,values,here\n'], 'c.csv'),
    );
    const up = await admin.request('/start/import', { method: 'POST', body: form });
    expect(up.status).toBe(303);
    const summary = await admin.get(up.headers.get('location')!);
    expect(summary.html).toContain('1 new');
    expect(summary.html).toMatch(/<td class="num">3<\/td>/);
    const importId = /import=(\d+)/.exec(up.headers.get('location')!)![1];
    const forecast = await admin.get(
      `/start/forecast?pipeline=golf-courses&scope=import:${importId}&budget=2`,
    );
    expect(forecast.status).toBe(200);
    expect(forecast.html).toContain('1 records');
    expect(forecast.html).toContain('Start 1 runs with a budget of $2');
    const bad = await admin.get('/start/forecast?pipeline=golf-courses&scope=where&where=nonsense!!');
    expect(bad.status).toBe(400);
    const start = await admin.post('/start/batch', {
      pipeline: 'golf-courses',
      scope: `import:${importId}`,
      budget: '2',
    });
    expect(start.status, start.html).toBe(303);
    expect(start.location).toMatch(/batches/);
    const batchId = Number(/\/batches\/(\d+)/.exec(start.location!)![1]);
    const b = await h.db.query<{ total: number; budget_usd: number }>(
      'SELECT total, budget_usd FROM batches WHERE id = $1',
      [batchId],
    );
    expect(b.rows[0]).toEqual({ total: 1, budget_usd: 2 });
    const job = await h.db.query<{ kind: string }>('SELECT kind FROM jobs WHERE batch_id = $1', [batchId]);
    expect(job.rows[0]!.kind).toBe('pipeline');
    // the upload needs the CSRF token like every action
    const noToken = new FormData();
    noToken.append('file', new File(['name\nX\n'], 'x.csv'));
    expect((await admin.request('/start/import', { method: 'POST', body: noToken })).status).toBe(403);
  });
});
