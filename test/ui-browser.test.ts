import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/api-keys/api-keys.ts';
import { loadConfig } from '../src/config/config.ts';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { openServeEngine } from '../src/server/serve-engine.ts';
import { type RunningServer, startServer } from '../src/server/start-server.ts';
import { enqueueDelivery, ensureEndpoint } from '../src/webhooks/webhook-store.ts';
import { startReceiver } from './helpers/callback-receiver.ts';

/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), once, on PGlite: log in,
 * open every page (a screenshot of each under test-artifacts/), and no request leaves this server.
 */
const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');

describe('dashboard in chromium', () => {
  let db: Db;
  let server: RunningServer;
  let stopEngine: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let key: string;
  const requests: string[] = [];
  const failures: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await openDb({ memory: true });
    const { engine, sandbox } = await openServeEngine(loadConfig({}), db, {
      sandbox: true,
      sandboxLatencyScale: 0,
    });
    stopEngine = async () => {
      await engine.queue.stop();
      await sandbox?.stop();
    };
    server = await startServer({
      db,
      engine,
      env: {},
      port: 0,
      workers: 8,
      pollMs: 200,
      sandbox: true,
      callbacks: { allowLoopback: true },
    });
    key = (await createApiKey(db, { name: 'browser', scopes: ['admin'] })).key;
    profile = await mkdtemp(join(tmpdir(), 'sluice-chromium-'));
    // A fresh profile directory (playwright passes it as --user-data-dir).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context.on('request', (r) => {
      requests.push(r.url());
    });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') failures.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failures.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    await stopEngine?.();
    await db?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `ui-${name}.png`), fullPage: true });

  it('logs in with an API key and shows the overview with its chart', async () => {
    await page.goto(`${server.url}/`);
    expect(page.url()).toContain('/login');
    await shot('login');
    await page.fill('#key', key);
    await page.click('button[type=submit]');
    await page.waitForURL(`${server.url}/`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Overview');
    await expect(page.locator('#database').textContent()).resolves.toContain('embedded PGlite');
    await expect(page.locator('#sandbox').textContent()).resolves.toContain('simulated');
    await page.waitForSelector('#throughput-chart .uplot');
    await shot('overview');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === '__Host-sluice_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.secure).toBe(true);
    expect(session?.sameSite).toBe('Strict');
  });

  it('uploads a CSV, sees the rejected line, forecasts, starts a sandbox batch and watches it finish', async () => {
    const csv = join(profile, 'courses.csv');
    const lines = readFileSync(join(process.cwd(), 'data/virginia-golf-courses.csv'), 'utf8').split('\n');
    writeFileSync(csv, `${lines.slice(0, 7).join('\n')}\nToo Many Columns Golf,tmc.example,1,2,3,4,5\n`);
    await page.click('nav a[href="/start"]');
    await page.setInputFiles('#upload input[type=file]', csv);
    await page.click('#upload button[type=submit]');
    await page.waitForSelector('#import-summary');
    await expect(page.locator('#import-summary').textContent()).resolves.toContain('6 new');
    await expect(page.locator('#rejected').textContent()).resolves.toMatch(/8/);
    await shot('start-import');
    await page.fill('#choose input[name=budget]', '5');
    await page.click('#choose button[type=submit]');
    await page.waitForSelector('#forecast');
    await expect(page.locator('#forecast').textContent()).resolves.toContain('6 records');
    await shot('start-forecast');
    await page.click('#start button[type=submit]');
    await page.waitForURL(/\/batches\/\d+/);
    // the batch page follows live (htmx polling) until every run is done
    await page.locator('#batch-live', { hasText: '6/6 done' }).waitFor({ timeout: 45_000 });
    await page.locator('#batch-live .big', { hasText: /^done$/ }).waitFor();
    await shot('batch');
  });

  it("opens a cell's lineage in the drawer and edits the value by hand", async () => {
    await page.click('nav a[href="/records"]');
    await shot('records');
    const cell = page.locator('#records tbody tr').first().locator('td[data-status] a').nth(3); // phone
    await cell.click();
    await page.locator('#drawer .lineage').waitFor();
    await expect(page.locator('#drawer').textContent()).resolves.toContain('current');
    await shot('lineage');
    await page.fill('#edit-value input[name=value]', '+1 540 555 0123');
    await page.click('#edit-value button[type=submit]');
    await page.locator('.notice', { hasText: 'set by hand' }).waitFor();
    await expect(page.locator('#lineage').textContent()).resolves.toContain('+1 540 555 0123 ✓ current');
    await expect(page.locator('#lineage').textContent()).resolves.toContain(
      'a manual edit beats every other source',
    );
  });

  it('redrives a dead letter', async () => {
    await db.query(
      `UPDATE runs SET state = 'failed', error_class = 'retryable', error = 'simulated outage' WHERE id = (SELECT min(id) FROM runs)`,
    );
    await page.click('nav a[href="/dead-letters"]');
    await expect(page.locator('#dead-groups').textContent()).resolves.toContain('retryable');
    await shot('dead-letters');
    await page.locator('#dead-groups button', { hasText: 'Redrive' }).first().click();
    await page.locator('.notice', { hasText: 'queued again' }).waitFor();
    // the worker runs it again (its memoized steps answer) and it leaves the dead letters
    await expect
      .poll(
        async () =>
          (await db.query<{ state: string }>('SELECT state FROM runs WHERE id = (SELECT min(id) FROM runs)'))
            .rows[0]!.state,
        {
          timeout: 20_000,
        },
      )
      .not.toMatch(/failed|queued|running/);
    await page.reload();
    await expect(page.locator('#dead-groups').textContent()).resolves.toContain('no dead letters');
  });

  it('replays a failed delivery, which then succeeds', async () => {
    const receiver = await startReceiver([200]);
    try {
      const { endpoint, secret } = await ensureEndpoint(db, receiver.url);
      receiver.setSecret(secret!);
      const d = await enqueueDelivery(db, {
        endpointId: endpoint.id,
        eventType: 'job.completed',
        payload: { ok: true },
      });
      await db.query(
        `UPDATE webhook_deliveries SET state = 'failed', attempts = 8, last_status = 500, next_attempt_at = now() + interval '1 day', finished_at = now() WHERE id = $1`,
        [d.id],
      );
      await page.click('nav a[href="/deliveries"]');
      await shot('deliveries');
      await page
        .locator(`#deliveries tr:has(a[href="/deliveries/${d.id}"]) button`, { hasText: 'Replay' })
        .click();
      await page.waitForURL(new RegExp(`/deliveries/${d.id}`));
      await page.locator('#delivery-live .s-succeeded').first().waitFor({ timeout: 20_000 });
      await expect(page.locator('#attempts').textContent()).resolves.toContain('HTTP 200');
      await shot('delivery');
      expect(receiver.received.length).toBe(1);
      expect(receiver.received[0]!.verified).toEqual({ ok: true });
    } finally {
      await receiver.close();
    }
  });

  it('opens every other page', async () => {
    for (const [path, name] of [
      ['/runs', 'runs'],
      ['/runs?state=enriched', 'runs-filtered'],
      ['/spend?by=provider', 'spend'],
      ['/providers', 'providers'],
      ['/batches', 'batches'],
    ] as const) {
      await page.goto(`${server.url}${path}`);
      await page.locator('main h1').waitFor();
      await shot(name);
    }
    await page.goto(`${server.url}/runs/1`);
    await expect(page.locator('#timeline').textContent()).resolves.toContain('call');
    await shot('run');
  });

  it('made no request to any other address, and no page error', () => {
    const outside = requests.filter((u) => !u.startsWith(server.url));
    expect(outside).toEqual([]);
    expect(requests.length).toBeGreaterThan(3);
    expect(failures).toEqual([]);
  });
});
