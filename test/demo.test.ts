import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../src/demo/demo-report.ts';
import { runDemo } from '../src/demo/run-demo.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

/**
 * End to end: the bundled courses, the sandbox's fakes, the golf-course pipeline through the real run
 * engine and gateway, scored against the sandbox's ground truth. A second run pays nothing.
 */
const REQUIRED_KEYS = [
  'accounts_enriched',
  'contacts_found',
  'email_found_rate',
  'email_accuracy',
  'phone_found_rate',
  'linkedin_found_rate',
  'paid_calls',
  'cache_hits',
  'total_cost_usd',
  'cost_per_enriched_contact_usd',
  'wall_time_s',
  'providers',
] as const;

function checkShape(r: DemoReport): void {
  for (const k of REQUIRED_KEYS) expect(r, k).toHaveProperty(k);
  for (const k of [
    'email_found_rate',
    'email_accuracy',
    'phone_found_rate',
    'linkedin_found_rate',
  ] as const) {
    expect(r[k], k).toBeGreaterThanOrEqual(0);
    expect(r[k], k).toBeLessThanOrEqual(1);
  }
  for (const p of r.providers) {
    expect(Object.keys(p)).toEqual(
      expect.arrayContaining(['provider', 'calls', 'hits', 'cost_usd', 'median_latency_ms']),
    );
  }
}

describeEachBackend('sluice demo', (backend) => {
  it('enriches the first courses, scores them against ground truth, and pays nothing the second time', async () => {
    const db = await openTestDb(backend);
    try {
      const first = await runDemo({ db, env: {}, records: 4, latencyScale: 0 });
      checkShape(first);
      expect(first.accounts_selected).toBe(4);
      expect(first.accounts_enriched).toBe(4);
      expect(first.contacts_found).toBeGreaterThan(0);
      expect(first.email_found_rate).toBeGreaterThan(0.5);
      expect(first.email_accuracy).toBeGreaterThan(0.8);
      expect(first.paid_calls).toBeGreaterThan(0);
      expect(first.total_cost_usd).toBeGreaterThan(0);
      expect(first.providers.map((p) => p.provider)).toEqual(
        expect.arrayContaining(['hunter', 'llm', 'website']),
      );
      // Every email landed with provenance: which provider, what it cost, when.
      const prov = await db.query<{ provider: string | null; n: number }>(
        `SELECT provider, count(*)::int AS n FROM field_values
          WHERE entity_type = 'contact' AND field = 'email' AND source = 'provider' GROUP BY provider`,
      );
      expect(prov.rows.length).toBeGreaterThan(0);
      for (const r of prov.rows) expect(['email-pattern', 'hunter', 'apollo']).toContain(r.provider);
      const segments = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM accounts WHERE segment IN ('high-end', 'budget', 'both')`,
      );
      expect(segments.rows[0]!.n).toBe(4);

      const second = await runDemo({ db, env: {}, records: 4, latencyScale: 0 });
      checkShape(second);
      expect(second.paid_calls).toBe(0);
      expect(second.total_cost_usd).toBe(0);
      expect(second.cache_hits).toBeGreaterThan(0);
      expect(second.contacts_found).toBe(first.contacts_found);
    } finally {
      await db.close();
    }
  });
});

describe('sluice demo (CLI)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('runs with no keys in a fresh embedded database, announces the sandbox and prints one JSON object', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-demo-'));
    dirs.push(dir);
    // A DATABASE_URL in the environment must not receive simulated data (and here it is unreachable).
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      NO_COLOR: '1',
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    };
    const run = () =>
      promisify(execFile)(
        process.execPath,
        ['bin/sluice.js', '--data-dir', join(dir, 'data'), 'demo', '--records', '3', '--json'],
        { env, cwd: join(import.meta.dirname, '..'), timeout: 120_000 },
      );
    const first = await run();
    expect(first.stderr).toContain('sandbox: simulated providers, no real data');
    expect(first.stderr).toContain('not DATABASE_URL');
    const report = JSON.parse(first.stdout) as DemoReport;
    checkShape(report);
    expect(report.accounts_enriched).toBe(3);
    const again = JSON.parse((await run()).stdout) as DemoReport;
    expect(again.paid_calls).toBe(0);
  });
});
