import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import type { DemoReport } from '../src/demo/demo-report.ts';
import { runDemo } from '../src/demo/run-demo.ts';
import { BUILTIN_DIR } from '../src/pipelines/resolve.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

/**
 * End to end: the bundled courses, the sandbox's fakes (language models included, over HTTP), the
 * golf-course pipeline through the real run engine and gateway, scored against the simulated world.
 * A second run pays nothing; a pipeline without its email verification scores worse.
 */
const REQUIRED_KEYS = [
  'accounts_enriched',
  'contacts_found',
  'email_found_rate',
  'email_accuracy',
  'phone_found_rate',
  'phone_direct_found_rate',
  'phone_direct_accuracy',
  'phone_main_line_rate',
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
      expect(first.measured_against).toBe('simulated world');
      expect(first.email_found_rate).toBeGreaterThan(0.5);
      expect(first.email_accuracy).toBeGreaterThan(0.5);
      // The AI steps crossed HTTP to the model fakes.
      expect(first.fake_requests.anthropic).toBeGreaterThan(0);
      expect(first.fake_requests.perplexity).toBeGreaterThan(0);
      // Every raised limit is reported with the batch's time at the real limit.
      expect(first.limits.changed.map((c) => c.provider)).toContain('llm');
      // (4 courses fit in the real limits' first windows: no wait is needed, at either limit.)
      expect(first.limits.at_real_limits_s).toBeGreaterThanOrEqual(first.limits.at_sandbox_limits_s);
      // ...and with the requests it really made (from the ledger), which the forecast bounds.
      const llm = first.limits.changed.find((c) => c.provider === 'llm')!;
      expect(llm.made_requests).toBe(first.providers.find((p) => p.provider === 'llm')!.requests);
      expect(llm.made_requests).toBeGreaterThan(0);
      for (const c of first.limits.changed)
        expect(c.made_at_real_limit_s).toBeLessThanOrEqual(c.at_real_limit_s);
      // Latency is an HTTP round trip for the fakes, in-process work for the email-pattern inferrer.
      const overHttp = Object.fromEntries(first.providers.map((p) => [p.provider, p.over_http]));
      expect(overHttp).toMatchObject({ hunter: true, llm: true, website: true, 'email-pattern': false });
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

describe('sluice demo measures the pipeline', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('without its email verification step, the same scorer measures lower email accuracy', async () => {
    // The variant: golf-courses with the verifier removed from the email waterfall.
    const doc = parseDocument(await readFile(join(BUILTIN_DIR, 'golf-courses.yaml'), 'utf8'));
    const steps = doc.toJS().steps as { id: string; steps?: { id: string }[] }[];
    const emails = steps.findIndex((s) => s.id === 'emails');
    const email = steps[emails]!.steps!.findIndex((s) => s.id === 'email');
    expect(doc.hasIn(['steps', emails, 'steps', email, 'validate'])).toBe(true);
    doc.deleteIn(['steps', emails, 'steps', email, 'validate']);
    doc.setIn(['name'], 'golf-courses-unverified');
    const dir = await mkdtemp(join(tmpdir(), 'sluice-variant-'));
    dirs.push(dir);
    const variant = join(dir, 'golf-courses-unverified.yaml');
    await writeFile(variant, doc.toString());

    const score = async (pipeline?: string) => {
      const db = await openTestDb('pglite');
      try {
        return await runDemo({
          db,
          env: {},
          records: 40,
          latencyScale: 0,
          ...(pipeline ? { pipeline } : {}),
        });
      } finally {
        await db.close();
      }
    };
    const verified = await score();
    const unverified = await score(variant);
    expect(unverified.accounts_enriched).toBe(verified.accounts_enriched);
    expect(unverified.email_found_rate).toBeGreaterThanOrEqual(verified.email_found_rate);
    expect(unverified.email_accuracy).toBeLessThan(verified.email_accuracy);
  }, 240_000);
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
        { env, cwd: join(import.meta.dirname, '..'), timeout: 110_000 },
      );
    const first = await run();
    expect(first.stderr).toContain('sandbox: simulated providers, no real data');
    // --data-dir wins over a DATABASE_URL in the environment, and says so
    expect(first.stderr).toContain('DATABASE_URL is ignored');
    const report = JSON.parse(first.stdout) as DemoReport;
    checkShape(report);
    expect(report.accounts_enriched).toBe(3);
    const again = JSON.parse((await run()).stdout) as DemoReport;
    expect(again.paid_calls).toBe(0);
  }, 240_000); // two CLI processes: 15 s on a quiet machine, over 60 s at load 20
});
