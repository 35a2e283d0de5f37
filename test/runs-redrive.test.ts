import { afterEach, beforeEach, expect, it } from 'vitest';
import { batchProgress, createBatch, settleBatch } from '../src/engine/batch.ts';
import { listDeadRuns, redriveBatch, showDeadRun } from '../src/engine/dead-letter.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { startWorker } from '../src/engine/worker-loop.ts';
import { CriticalError, RetryableError, ThrottledError } from '../src/errors.ts';
import { parsePipeline } from '../src/pipelines/load.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type Harness, openHarness } from './helpers/run-harness.ts';
import { scriptedGateway } from './helpers/test-gateway.ts';

/** One email lookup per contact, inside foreach (the shape of the Hunter scenario). */
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
          - { provider: finder, operation: find, input: { name: "{{contact.full_name}}" }, output: { email: email } }
`,
  'people.yaml',
  { checkProviders: false },
).definition;

const slug = (name: string) => name.toLowerCase().replace(/[^a-z]+/g, '.');

describeEachBackend('failed calls and redrive', (backend) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(backend);
  });
  afterEach(async () => {
    await h.close();
  });

  async function seed(people: Record<string, string[]>) {
    for (const [account, names] of Object.entries(people)) {
      const [id] = await h.accounts([account]);
      for (const n of names)
        await h.db.query('INSERT INTO contacts (account_id, full_name) VALUES ($1, $2)', [id, n]);
    }
  }

  async function work(engine: RunEngine, batchId: number) {
    await startWorker({ engine, idlePollMs: 20, until: () => settleBatch(h.db, batchId) }).done;
    return batchProgress(h.db, batchId);
  }

  const emails = async () =>
    Object.fromEntries(
      (
        await h.db.query<{ full_name: string; email: string | null }>(
          'SELECT full_name, email FROM contacts ORDER BY full_name',
        )
      ).rows.map((r) => [r.full_name, r.email]),
    );

  it('a failed call leaves its field empty with the reason, keeps every sibling, and a redrive reruns only it', async () => {
    await seed({ Pine: ['Ann Lee', 'Bob Ray', 'Cy Dunn'], Oak: ['Dee Fox', 'Eve Hart', 'Fay Gray'] });
    let broken = true;
    const gw = scriptedGateway({
      'finder/find': (i: { name: string }) => {
        if (broken && i.name === 'Bob Ray') throw new CriticalError('finder returned an unexpected body');
        if (broken && i.name === 'Eve Hart')
          throw new RetryableError('finder answered HTTP 502 (will retry)');
        if (i.name === 'Cy Dunn') return { found: false }; // the provider's real "no data"
        return { found: true, output: { email: `${slug(i.name)}@example.com` } };
      },
    });
    const engine = h.engine(gw, [PEOPLE]);
    const batch = await createBatch(h.db, h.queue, { pipeline: 'people', selection: {} });
    expect(await work(engine, batch.id)).toMatchObject({
      status: 'done',
      partial: 2,
      failed: 0,
      enriched: 0,
    });
    expect(await emails()).toEqual({
      'Ann Lee': 'ann.lee@example.com',
      'Bob Ray': null,
      'Cy Dunn': null,
      'Dee Fox': 'dee.fox@example.com',
      'Eve Hart': null,
      'Fay Gray': 'fay.gray@example.com',
    });
    // Eve's run was retried (3 attempts) before her call counted as failed; Dee and Fay were paid once.
    const calls = (name: string) =>
      gw.calls.filter((c) => (c.input as { name: string }).name === name).length;
    expect([calls('Dee Fox'), calls('Fay Gray'), calls('Eve Hart')]).toEqual([1, 1, 3]);

    const dead = await listDeadRuns(h.db);
    expect(dead.map((d) => [d.accountName, d.state, d.failedCalls]).sort()).toEqual([
      ['Oak', 'partial', 1],
      ['Pine', 'partial', 1],
    ]);
    const pine = await showDeadRun(h.db, dead.find((d) => d.accountName === 'Pine')!.runId);
    expect(pine!.failedSteps).toEqual([
      expect.objectContaining({
        step: 'people.email',
        provider: 'finder',
        errorClass: 'critical',
        message: 'finder returned an unexpected body',
      }),
    ]);
    const oak = await showDeadRun(h.db, dead.find((d) => d.accountName === 'Oak')!.runId);
    expect(oak!.failedSteps[0]).toMatchObject({ errorClass: 'retryable', message: /HTTP 502/ });
    expect(oak!.reason).toMatch(/1 call failed.*HTTP 502/);
    // "no data" is a result, never in the failed list
    const cy = await h.db.query<{ status: string }>(
      `SELECT status FROM run_steps WHERE step_key LIKE 'people/people.email/%' AND output->'data'->'attempts'->0->>'result' = 'not_found'`,
    );
    expect(cy.rows).toEqual([{ status: 'not_found' }]);

    broken = false;
    const before = gw.calls.length;
    const redrive = await redriveBatch(h.db, h.queue, batch.id);
    expect(redrive).toMatchObject({ id: batch.id, requeued: 2 });
    expect(await work(engine, batch.id)).toMatchObject({ status: 'done', partial: 0, enriched: 2 });
    // only the two failed calls were made again
    expect(
      gw.calls
        .slice(before)
        .map((c) => (c.input as { name: string }).name)
        .sort(),
    ).toEqual(['Bob Ray', 'Eve Hart']);
    expect(await emails()).toMatchObject({
      'Bob Ray': 'bob.ray@example.com',
      'Eve Hart': 'eve.hart@example.com',
    });
    expect(await listDeadRuns(h.db)).toEqual([]);
    const fv = await h.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM field_values WHERE field = 'email'`,
    );
    expect(fv.rows[0]!.n).toBe(5); // each found email written once
  }, 60_000);

  it('a throttle that never lets up ends: the run goes to the dead-letter queue as throttled', async () => {
    await seed({ Pine: ['Ann Lee'] });
    const gw = scriptedGateway({
      'finder/find': () => {
        throw new ThrottledError('finder: rate limit (403)', { retryAfterMs: 10 });
      },
    });
    const engine = h.engine(gw, [PEOPLE], { maxThrottles: 3 });
    const batch = await createBatch(h.db, h.queue, { pipeline: 'people', selection: {} });
    expect(await work(engine, batch.id)).toMatchObject({ status: 'done', failed: 1 });
    const [dead] = await listDeadRuns(h.db);
    expect(dead).toMatchObject({ state: 'failed', errorClass: 'throttled' });
    expect(dead!.reason).toMatch(/throttled 4 times .*ceiling: 3 reschedules.*rate limit \(403\)/);
    expect(gw.calls).toHaveLength(4);
  }, 60_000);
});
