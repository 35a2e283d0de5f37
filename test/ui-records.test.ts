import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeFieldValues } from '../src/records/field-values.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';
import { uiClient } from './helpers/ui-client.ts';

/** Four accounts: phone found (1), phone errored (2), phone not found (3), never run (4); 1's website is stale. */
async function seed(h: ServerHarness) {
  await h.db.exec(`
    INSERT INTO accounts (name) VALUES ('Pine Hills Golf'), ('Oak Links'), ('Birch Course'), ('Elm Greens');
    INSERT INTO batches (pipeline, total) VALUES ('golf-courses', 3);
    INSERT INTO runs (batch_id, pipeline, account_id, state, finished_at, failed_calls)
      VALUES (1, 'golf-courses', 1, 'enriched', now(), 0), (1, 'golf-courses', 2, 'failed', now(), 1),
             (1, 'golf-courses', 3, 'partial', now(), 0);
  `);
  await h.db.transaction((tx) =>
    writeFieldValues(tx, [
      {
        entityType: 'account',
        entityId: 1,
        field: 'website',
        value: 'https://pinehills.example',
        source: 'import',
        importId: 1,
        observedAt: '2020-01-01T00:00:00Z',
      },
      {
        entityType: 'account',
        entityId: 1,
        field: 'phone',
        value: '+15405550100',
        source: 'import',
        importId: 1,
      },
      {
        entityType: 'account',
        entityId: 1,
        field: 'phone',
        value: '+15405550199',
        source: 'provider',
        provider: 'google-places',
        operation: 'details',
        runId: 1,
        costUsd: 0.017,
        confidence: 0.9,
      },
    ]),
  );
}

describeEachBackend('dashboard records and lineage', (backend) => {
  let h: ServerHarness;
  let ui: ReturnType<typeof uiClient>;
  beforeAll(async () => {
    h = await openServerHarness(backend);
    await seed(h);
    ui = uiClient(h.app);
    await ui.login(h.writeKey);
  });
  afterAll(() => h.close());

  const cellsOf = (html: string, field: string) => {
    const head = html.slice(html.indexOf('<thead>'), html.indexOf('</thead>'));
    const cols = [...head.matchAll(/<th>([^<]+)<\/th>/g)].map((m) => m[1]);
    const col = cols.indexOf(field);
    const rows = html.slice(html.indexOf('<tbody>'), html.indexOf('</tbody>')).split('<tr>').slice(1);
    return rows.map(
      (r) => [...r.matchAll(/<td[^>]*>/g)].map((m) => /data-status="([^"]+)"/.exec(m[0])?.[1])[col],
    );
  };

  it('shows each cell with its status: found, stale, error, not found, not run', async () => {
    const page = await ui.get('/records?type=account');
    expect(page.status).toBe(200);
    expect(cellsOf(page.html, 'phone')).toEqual(['found', 'error', 'not_found', 'not_run']);
    expect(cellsOf(page.html, 'website')).toEqual(['stale', 'error', 'not_found', 'not_run']);
  });

  it('filters "phone errored or not run" in SQL, and refuses a status without a field', async () => {
    const page = await ui.get('/records?type=account&field=phone&status=error&status=not_run');
    expect(cellsOf(page.html, 'phone')).toEqual(['error', 'not_run']);
    expect((await ui.get('/records?type=account&field=website&status=stale')).html).toContain(
      'Pine Hills Golf',
    );
    expect((await ui.get('/records?type=account&field=website&status=found')).html).toContain(
      'no record matches',
    );
    const bad = await ui.get('/records?status=error');
    expect(bad.status).toBe(400);
  });

  it('opens the lineage of a cell: every value, the current one and why', async () => {
    const frag = await ui.get('/records/account/1/lineage/phone?fragment=1', { 'hx-request': 'true' });
    expect(frag.html).not.toContain('<html');
    expect(frag.html).toContain('+15405550199 ✓ current');
    expect(frag.html).toContain('google-places / details');
    expect(frag.html).toContain('href="/runs/1"');
    expect(frag.html).toContain('$0.017<');
    expect(frag.html).toContain('0.90');
    expect(frag.html).toContain('import 1');
    expect(frag.html).toContain('the most recent confident enrichment');
    const page = await ui.get('/records/account/1/lineage/phone');
    expect(page.html).toContain('<html');
  });

  it('edits a value by hand: it becomes manual and current, on the row too', async () => {
    const r = await ui.post('/records/account/1/fields/phone', { value: '+15405550123' });
    expect(r.status).toBe(303);
    const after = await ui.get(r.location!);
    expect(after.html).toContain('+15405550123 ✓ current');
    expect(after.html).toContain('a manual edit beats every other source');
    const row = await h.db.query<{ phone: string }>('SELECT phone FROM accounts WHERE id = 1');
    expect(row.rows[0]!.phone).toBe('+15405550123');
    const src = await h.db.query<{ source: string }>(
      `SELECT source FROM field_values WHERE entity_id = 1 AND field = 'phone' ORDER BY id DESC LIMIT 1`,
    );
    expect(src.rows[0]!.source).toBe('manual');
    const reserved = await ui.post('/records/account/1/fields/name_key', { value: 'x' });
    expect(decodeURIComponent(reserved.location!)).toContain('managed by Sluice');
    const readOnly = uiClient(h.app);
    await readOnly.login(await h.key(['read']));
    expect((await readOnly.get('/records/account/1/lineage/phone')).html).not.toContain('id="edit-value"');
    expect((await readOnly.post('/records/account/1/fields/phone', { value: '1' })).status).toBe(403);
  });
});

describeEachBackend('dashboard: re-enrich one record', (backend) => {
  let h: ServerHarness;
  beforeAll(async () => {
    h = await openServerHarness(backend);
    await h.db.exec(
      `INSERT INTO accounts (name, website) VALUES ('Pine Hills Golf', 'https://pinehills.example'), ('Oak Links', NULL)`,
    );
  });
  afterAll(() => h.close());

  it('shows the forecast for just that record before anything runs', async () => {
    const ui = uiClient(h.app);
    await ui.login(h.writeKey);
    const page = await ui.get('/records?type=account');
    const link = /href="(\/start\/forecast\?scope=where&amp;where=id%3D1)"/
      .exec(page.html)![1]!
      .replaceAll('&amp;', '&');
    const forecast = await ui.get(link);
    expect(forecast.status).toBe(200);
    expect(forecast.html).toContain('1 records');
    expect(forecast.html).toContain('Start 1 runs');
    expect((await h.db.query('SELECT 1 FROM batches')).rows).toHaveLength(0);
  });
});
