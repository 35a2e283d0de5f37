import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  BudgetExceededError,
  CriticalError,
  InfrastructureError,
  NotFoundError,
  QuotaExhaustedError,
  RetryableError,
  ThrottledError,
} from '../src/errors.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type Harness, openHarness } from './helpers/run-harness.ts';
import { basicHandlers, basicPipeline } from './helpers/run-pipelines.ts';
import { scriptedGateway } from './helpers/test-gateway.ts';

describeEachBackend('runs', (backend) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(backend);
  });
  afterEach(async () => {
    await h.close();
  });

  const runsOf = async (batchId?: number) =>
    (
      await h.db.query<{
        id: number;
        account_id: number;
        state: string;
        attempts: number;
        error: string | null;
      }>(
        `SELECT id, account_id, state, attempts, error FROM runs ${batchId ? 'WHERE batch_id = $1' : ''} ORDER BY id`,
        batchId ? [batchId] : [],
      )
    ).rows;

  it('enriches each account in one final write with provenance, creating discovered contacts once', async () => {
    const [a, b] = await h.accounts(['Pine Valley', 'Oak Hill']);
    const gw = scriptedGateway(basicHandlers());
    const p = await h.runBatch(h.engine(gw, [basicPipeline()]), 'basic');
    expect(p).toMatchObject({ status: 'done', total: 2, enriched: 2, failed: 0, queued: 0, running: 0 });
    const acc = await h.db.query<{ industry: string; attributes: { general_email: string } }>(
      'SELECT industry, attributes FROM accounts WHERE id = $1',
      [a],
    );
    expect(acc.rows[0]).toMatchObject({
      industry: 'golf:Pine Valley',
      attributes: { general_email: 'info@pinevalley.com' },
    });
    const fv = await h.db.query<{ provider: string; run_id: number; cost_usd: number; confidence: number }>(
      `SELECT provider, run_id, cost_usd, confidence FROM field_values WHERE entity_type = 'account' AND entity_id = $1 AND field = 'industry'`,
      [a],
    );
    const runs = await runsOf();
    expect(fv.rows).toEqual([
      {
        provider: 'alpha',
        run_id: runs.find((r) => r.account_id === a)!.id,
        cost_usd: 0.01,
        confidence: expect.closeTo(0.9, 5),
      },
    ]);
    const contacts = await h.db.query<{
      account_id: number;
      email: string;
      full_name: string;
      title: string;
    }>('SELECT account_id, email, full_name, title FROM contacts ORDER BY email');
    expect(contacts.rows).toEqual(
      [
        { account_id: a, email: 'ann@pinevalley.com', full_name: 'Ann Lee', title: 'GM' },
        { account_id: b, email: 'ann@oakhill.com', full_name: 'Ann Lee', title: 'GM' },
        { account_id: a, email: 'bob@pinevalley.com', full_name: 'Bob Ray', title: 'Pro' },
        { account_id: b, email: 'bob@oakhill.com', full_name: 'Bob Ray', title: 'Pro' },
      ].sort((x, y) => x.email.localeCompare(y.email)),
    );
    expect(p.calls).toBe(2 * (1 + 1 + 1 + 2)); // industry, beta email (gamma not needed), staff, 2 titles
  });

  it('marks a run partial when a step found nothing, and does not duplicate contacts on a second batch', async () => {
    await h.accounts(['Pine Valley']);
    const gw = scriptedGateway({ ...basicHandlers(), 'beta/email': () => ({ found: false }) });
    const engine = h.engine(gw, [basicPipeline()]);
    expect(await h.runBatch(engine, 'basic')).toMatchObject({ partial: 1, enriched: 0 });
    await h.runBatch(engine, 'basic');
    const n = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts');
    expect(n.rows[0]!.n).toBe(2);
  });

  it('never redoes a completed step or foreach child when the run is retried', async () => {
    await h.accounts(['Pine Valley']);
    const handlers = basicHandlers();
    const gw = scriptedGateway({
      ...handlers,
      // the second title lookup fails once with a transient error: the run is retried
      'beta/title': (i, _r, n) => {
        if (n === 2) throw new RetryableError('beta: 503');
        return handlers['beta/title'](i);
      },
    });
    const p = await h.runBatch(h.engine(gw, [basicPipeline()]), 'basic');
    expect(p).toMatchObject({ enriched: 1, failed: 0 });
    expect(gw.count('alpha/industry')).toBe(1);
    expect(gw.count('beta/email')).toBe(1);
    expect(gw.count('alpha/staff')).toBe(2); // the step itself had not completed; its first child had
    expect(gw.count('beta/title')).toBe(3); // ann once (memoized child), bob failed once then succeeded
    const [run] = await runsOf();
    expect(run!.attempts).toBe(2);
    const fv = await h.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM field_values WHERE field = 'title'`,
    );
    expect(fv.rows[0]!.n).toBe(2);
  });

  it('writes all or nothing: a bad value at the end fails the run with no values written', async () => {
    const [a] = await h.accounts(['Pine Valley']);
    const pipeline = basicPipeline('bad-end');
    pipeline.steps.push({
      id: 'score',
      async run() {
        return {
          status: 'found',
          writes: [
            {
              entity: 'account',
              field: 'score',
              value: 3,
              source: 'step',
              costUsd: 0,
              confidence: 7,
              observedAt: new Date().toISOString(),
            },
          ],
        };
      },
    });
    const p = await h.runBatch(h.engine(scriptedGateway(basicHandlers()), [pipeline]), 'bad-end');
    expect(p).toMatchObject({ failed: 1, enriched: 0 });
    const fv = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM field_values');
    expect(fv.rows[0]!.n).toBe(0);
    const c = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts');
    expect(c.rows[0]!.n).toBe(0);
    const acc = await h.db.query<{ industry: string | null }>('SELECT industry FROM accounts WHERE id = $1', [
      a,
    ]);
    expect(acc.rows[0]!.industry).toBeNull();
    const [run] = await runsOf();
    expect(run!.error).toMatch(/confidence must be between 0 and 1/);
    expect(await h.queue.pending('sluice.runs.dlq')).toBe(1);
  });

  it('fails a run whose required step fails critically, into the dead-letter queue with the reason', async () => {
    await h.accounts(['Pine Valley', 'Oak Hill']);
    const gw = scriptedGateway({
      ...basicHandlers(),
      'alpha/industry': (i) => {
        if (i.name === 'Oak Hill') throw new CriticalError('alpha: 400 invalid name');
        return { found: true, output: { industry: 'golf' } };
      },
    });
    const p = await h.runBatch(h.engine(gw, [basicPipeline()]), 'basic');
    expect(p).toMatchObject({ enriched: 1, failed: 1 });
    const failed = (await runsOf()).find((r) => r.state === 'failed')!;
    expect(failed.error).toBe('step "industry" failed: alpha: 400 invalid name');
    expect(await h.queue.pending('sluice.runs.dlq')).toBe(1);
    expect(gw.count('beta/email')).toBe(1); // the failed run stopped at its required step
  });

  it('records not-found as nothing found, and a quota failure in an optional step as a failed step of a partial run', async () => {
    await h.accounts(['Pine Valley']);
    const gw = scriptedGateway({
      ...basicHandlers(),
      'beta/email': () => {
        throw new QuotaExhaustedError('beta: monthly credits used up');
      },
      'alpha/staff': () => {
        throw new NotFoundError('no staff page');
      },
    });
    const p = await h.runBatch(h.engine(gw, [basicPipeline()]), 'basic');
    expect(p).toMatchObject({ partial: 1, failed: 0 });
    const steps = await h.db.query<{ step_key: string; status: string }>(
      'SELECT step_key, status FROM run_steps ORDER BY step_key',
    );
    expect(steps.rows).toEqual([
      { step_key: 'email', status: 'failed' },
      { step_key: 'industry', status: 'found' },
      { step_key: 'staff', status: 'not_found' },
    ]);
    const run = await h.db.query<{ error_class: string; error: string; failed_calls: number }>(
      'SELECT error_class, error, failed_calls FROM runs',
    );
    expect(run.rows[0]).toMatchObject({ error_class: 'quota_exhausted', failed_calls: 1 });
    expect(run.rows[0]!.error).toMatch(/1 call failed.*monthly credits used up/);
  });

  it('reschedules throttled runs and defers on infrastructure errors without failing them', async () => {
    await h.accounts(['Pine Valley']);
    const handlers = basicHandlers();
    const gw = scriptedGateway({
      ...handlers,
      'alpha/industry': (i, _r, n) => {
        if (n === 1) throw new ThrottledError('alpha: 429', { retryAfterMs: 100 });
        return handlers['alpha/industry'](i);
      },
      'beta/email': (i, _r, n) => {
        if (n <= 2)
          throw new InfrastructureError('beta: circuit open', { retryAt: new Date(Date.now() + 50) });
        return handlers['beta/email'](i);
      },
    });
    const p = await h.runBatch(h.engine(gw, [basicPipeline()]), 'basic');
    expect(p).toMatchObject({ enriched: 1, failed: 0 });
    expect(gw.count('alpha/industry')).toBe(2);
    expect(gw.count('beta/email')).toBe(3);
    const [run] = await runsOf();
    expect(run!.attempts).toBe(4);
  });

  it('gives up after repeated retryable failures and says so', async () => {
    await h.accounts(['Pine Valley']);
    const gw = scriptedGateway({
      ...basicHandlers(),
      'alpha/industry': () => {
        throw new RetryableError('alpha: timeout after 10 s');
      },
    });
    const p = await h.runBatch(h.engine(gw, [basicPipeline()], { maxFailures: 2 }), 'basic');
    expect(p).toMatchObject({ failed: 1 });
    const [run] = await runsOf();
    expect(run!.error).toBe('step "industry" failed: gave up after 2 attempts: alpha: timeout after 10 s');
    expect(gw.count('alpha/industry')).toBe(2);
  });

  it('stops the batch cleanly when the budget is reached, leaving the rest queued', async () => {
    await h.accounts(['A1', 'A2', 'A3', 'A4']);
    let paid = 0;
    const handlers = basicHandlers();
    const gw = scriptedGateway({
      ...handlers,
      'alpha/industry': (i) => {
        if (paid >= 2) throw new BudgetExceededError('batch budget of $0.02 reached');
        paid += 1;
        return handlers['alpha/industry'](i);
      },
    });
    const p = await h.runBatch(h.engine(gw, [basicPipeline()]), 'basic', { concurrency: 1 });
    expect(p).toMatchObject({ status: 'stopped', enriched: 2, failed: 0, queued: 2, running: 0 });
    expect(p.stopReason).toBe('batch budget of $0.02 reached');
  });
});
