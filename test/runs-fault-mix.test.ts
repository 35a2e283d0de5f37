import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import { listDeadRuns, redriveBatch, showDeadRun } from '../src/engine/dead-letter.ts';
import { createGateway } from '../src/engine/gateway.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { parsePipeline } from '../src/pipelines/load.ts';
import { backends } from './helpers/backends.ts';
import { FAKE_API_KEY, fakeEnv, fakeProvider } from './helpers/fake-provider.ts';
import { type Harness, openHarness } from './helpers/run-harness.ts';

/**
 * The fault mix against a Hunter-like fake that knows the true answer for every person:
 * 10% 502, 5% stalls past the timeout, 5% truncated 200 bodies, 5% 429 with Retry-After, 5% 403
 * bursts (Hunter's throttle), and three people whose lookups keep failing until the provider is
 * fixed. One backend (server Postgres when available): it is an end-to-end test of the same code.
 */
const PEOPLE = parsePipeline(
  `
name: people
steps:
  - id: people
    kind: foreach
    steps:
      - id: email
        kind: waterfall
        fields: [email]
        providers:
          - { provider: hunter, operation: lookup, input: { q: "{{contact.full_name}}" }, output: { email: value } }
`,
  'people.yaml',
  { checkProviders: false },
).definition;

const unit = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;
const ACCOUNTS = 10;
const person = (a: number, c: number) => `P${a}x${c} Person`;
/** The truth: 70% of people have an email, the rest are unknown to the provider. */
const truth = (name: string) =>
  unit(`known:${name}`) < 0.7 ? `${name.split(' ')[0]!.toLowerCase()}@acct.example` : null;
const STUBBORN = new Set([person(1, 1), person(4, 2), person(7, 3)]);

function hunterLike() {
  const seen = new Map<string, number>();
  let burst = 0;
  const state = { broken: true, requests: 0 };
  const app = new Hono();
  app.get('/lookup', async (c) => {
    if (c.req.header('x-api-key') !== FAKE_API_KEY) return c.json({ errors: [{ code: 401 }] }, 401);
    const q = c.req.query('q') ?? '';
    state.requests++;
    const n = (seen.get(q) ?? 0) + 1;
    seen.set(q, n);
    if (burst > 0) {
      burst--;
      return c.json({ errors: [{ id: 'too_many_requests', code: 403 }] }, 403);
    }
    if (state.broken && STUBBORN.has(q)) return c.json({ message: 'bad gateway' }, 502);
    const u = unit(`${q}#${n}`);
    if (u < 0.1) return c.json({ message: 'bad gateway' }, 502);
    if (u < 0.15) {
      await new Promise((r) => setTimeout(r, 700)); // past the 250 ms timeout
      return c.json({ data: null });
    }
    if (u < 0.2) return c.body('{"data": {"q": "', 200, { 'content-type': 'application/json' });
    if (u < 0.25) return c.json({ message: 'slow down' }, 429, { 'Retry-After': '1' });
    if (u < 0.3) {
      burst = 2;
      return c.json({ errors: [{ id: 'too_many_requests', code: 403 }] }, 403);
    }
    const email = truth(q);
    return c.json({ data: email ? { q, value: email } : null });
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  return {
    state,
    ready: new Promise<string>((resolve) =>
      server.once('listening', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
    ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const backend = backends.at(-1)!;
describe(`fault mix against a Hunter-like fake [${backend}]`, () => {
  let h: Harness;
  let fake: ReturnType<typeof hunterLike>;
  let engine: RunEngine;
  beforeAll(async () => {
    h = await openHarness(backend);
    fake = hunterLike();
    const url = await fake.ready;
    const provider = fakeProvider({ id: 'hunter', style: 'mixed', timeoutMs: 250, maxAttempts: 4 });
    const gateway = createGateway({
      db: h.db,
      providers: (id) => (id === 'hunter' ? provider : undefined),
      env: fakeEnv({ url }, 'hunter'),
      backoff: { baseMs: 20, capMs: 200 },
      circuitCooldownMs: 300,
      failureThreshold: 50,
    });
    engine = h.engine(gateway, [PEOPLE], { maxFailures: 2 });
  });
  afterAll(async () => {
    await fake?.close();
    await h?.close();
  });

  const work = async (batchId: number) => {
    await startWorker({ engine, concurrency: 6, idlePollMs: 20, until: () => settleBatch(h.db, batchId) })
      .done;
    return batchProgress(h.db, batchId);
  };
  const emails = async () =>
    Object.fromEntries(
      (
        await h.db.query<{ full_name: string; email: string | null }>('SELECT full_name, email FROM contacts')
      ).rows.map((r) => [r.full_name, r.email]),
    );

  it('every run ends, every failure is visible with its reason, a redrive fills the gaps, no email is lost or wrong', async () => {
    for (let a = 0; a < ACCOUNTS; a++) {
      const [id] = await h.accounts([`Account ${a}`]);
      for (let c = 0; c < 4; c++)
        await h.db.query('INSERT INTO contacts (account_id, full_name) VALUES ($1, $2)', [id, person(a, c)]);
    }
    const batch = await createBatch(h.db, h.queue, { pipeline: 'people', selection: {} });
    const first = await work(batch.id);
    expect(first).toMatchObject({ status: 'done', total: ACCOUNTS, queued: 0, running: 0, failed: 0 });

    // nothing wrong; the only empty fields are the unknown people and the stubborn ones
    const got = await emails();
    for (const [name, email] of Object.entries(got)) {
      if (STUBBORN.has(name)) expect(email).toBeNull();
      else expect(email).toBe(truth(name));
    }
    // each stubborn lookup is listed with its reason (never recorded as "not found")
    const dead = await listDeadRuns(h.db);
    const listed = [];
    for (const d of dead) listed.push(...(await showDeadRun(h.db, d.runId))!.failedSteps);
    expect(listed).toHaveLength(STUBBORN.size);
    expect(listed.every((e) => /HTTP 502/.test(e.message) && e.errorClass === 'retryable')).toBe(true);

    // the faults did happen, and were retried or waited out (the ledger shows each attempt's class)
    const classes = await h.db.query<{ error_class: string; n: number }>(
      `SELECT error_class, count(*)::int AS n FROM ledger WHERE status = 'error' GROUP BY 1`,
    );
    const by = Object.fromEntries(classes.rows.map((r) => [r.error_class, r.n]));
    expect(by.retryable).toBeGreaterThan(STUBBORN.size * 4); // 502s, stalls, truncated bodies
    expect(by.throttled).toBeGreaterThan(0); // 429 Retry-After and 403 bursts
    const truncated = await h.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ledger WHERE error LIKE '%malformed JSON%'`,
    );
    expect(truncated.rows[0]!.n).toBeGreaterThan(0);

    fake.state.broken = false;
    const before = fake.state.requests;
    expect((await redriveBatch(h.db, h.queue, batch.id)).requeued).toBe(STUBBORN.size);
    expect(await work(batch.id)).toMatchObject({ status: 'done', queued: 0, running: 0, failed: 0 });
    const after = await emails();
    for (let a = 0; a < ACCOUNTS; a++)
      for (let c = 0; c < 4; c++) expect(after[person(a, c)]).toBe(truth(person(a, c)));
    expect(await listDeadRuns(h.db)).toEqual([]);
    // the redrive asked only for the stubborn people (plus their own faults' retries)
    expect(fake.state.requests - before).toBeLessThan(STUBBORN.size * 8);
  }, 180_000);
});
