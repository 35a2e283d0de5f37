import { mkdirSync } from 'node:fs';
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

  it('made no request to any other address, and no page error', () => {
    const outside = requests.filter((u) => !u.startsWith(server.url));
    expect(outside).toEqual([]);
    expect(requests.length).toBeGreaterThan(3);
    expect(failures).toEqual([]);
  });
});
