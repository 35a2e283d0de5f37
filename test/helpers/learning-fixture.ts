import type { Queryable } from '../../src/db/db.ts';

/**
 * A small hand-checked deployment for the learning tests: 4 accounts in one batch, with runs, memoized
 * waterfall steps, field values, ledger rows and one cached verifier answer whose figures are worked out
 * by hand in test/learning-stats.test.ts.
 */
export async function seedDeploymentFixture(db: Queryable): Promise<{ batchId: number; runs: number[] }> {
  const acc = await db.query<{ id: number }>(
    `INSERT INTO accounts (name, domain) SELECT 'Course ' || i, 'c' || i || '.test' FROM generate_series(1, 4) i
     RETURNING id`,
  );
  const accounts = acc.rows.map((r) => r.id);
  const batch = await db.query<{ id: number }>(
    `INSERT INTO batches (pipeline, status, total, created_at, finished_at)
     VALUES ('golf-courses', 'done', 4, '2026-01-01T10:00:00Z', '2026-01-01T10:01:40Z') RETURNING id`,
  );
  const batchId = batch.rows[0]!.id;
  const states = ['enriched', 'enriched', 'partial', 'failed'];
  const runs: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await db.query<{ id: number }>(
      `INSERT INTO runs (batch_id, pipeline, account_id, state, calls, cache_hits, cost_usd, created_at,
                         started_at, finished_at)
       VALUES ($1, 'golf-courses', $2, $3, 2, 0, 0, '2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z',
               '2026-01-01T10:00:00Z'::timestamptz + $4 * interval '1 second') RETURNING id`,
      [batchId, accounts[i], states[i], 2 * (i + 1)],
    );
    runs.push(r.rows[0]!.id);
  }
  const [r1, r2, r3, r4] = runs as [number, number, number, number];
  const value = async (
    run: number,
    entity: 'account' | 'contact',
    field: string,
    v: string,
    provider: string,
  ) =>
    db.query(
      `INSERT INTO field_values (entity_type, entity_id, field, value, source, provider, run_id)
       VALUES ($1, $2, $3, $4, 'provider', $5, $6)`,
      [entity, run, field, JSON.stringify(v), provider, run],
    );
  await value(r1, 'account', 'website', 'https://c1.test', 'perplexity');
  await value(r1, 'contact', 'email', 'A@c1.test', 'hunter');
  await value(r2, 'account', 'phone', '+15550000002', 'perplexity');
  await value(r3, 'contact', 'email', 'b@c3.test', 'apollo');
  const ledger = async (
    run: number,
    provider: string,
    operation: string,
    attempt: number,
    cache: string,
    status: string,
    cost: number,
    latency: number,
  ) =>
    db.query(
      `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, cost_usd, latency_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [provider, operation, run, batchId, attempt, cache, status, cost, latency],
    );
  await ledger(r1, 'hunter', 'email-finder', 1, 'miss', 'found', 0.01, 100);
  await ledger(r2, 'hunter', 'email-finder', 1, 'miss', 'not_found', 0, 300);
  await ledger(r3, 'apollo', 'people-match', 1, 'miss', 'found', 0.02, 200);
  await ledger(r4, 'hunter', 'email-finder', 0, 'hit', 'found', 0, 0);
  const step = async (run: number, key: string, status: string, attempts: unknown[] | undefined) =>
    db.query('INSERT INTO run_steps (run_id, step_key, status, output) VALUES ($1, $2, $3, $4)', [
      run,
      key,
      status,
      JSON.stringify({ status, writes: [], data: attempts ? { attempts } : { reason: 'x' } }),
    ]);
  const a = (provider: string, result: string) => ({
    provider,
    operation:
      provider === 'email-pattern' ? 'infer-email' : provider === 'hunter' ? 'email-finder' : 'people-match',
    result,
  });
  await step(r1, 'emails/emails.email/id:1', 'found', [a('email-pattern', 'not_found'), a('hunter', 'hit')]);
  await step(r2, 'emails/emails.email/id:2', 'not_found', [
    a('email-pattern', 'not_found'),
    a('hunter', 'not_found'),
    a('apollo', 'skipped_missing_input'),
  ]);
  await step(r3, 'emails/emails.email/id:3', 'found', [
    a('email-pattern', 'rejected'),
    a('hunter', 'not_found'),
    a('apollo', 'hit'),
  ]);
  await step(r1, 'website', 'skipped', undefined);
  await db.query(
    `INSERT INTO cache_entries (key, provider, operation, input, found, output, expires_at)
     VALUES ('k1', 'hunter', 'email-verifier', '"a@c1.test"', true, '{"status":"valid"}', now() + interval '1 day'),
            ('k2', 'hunter', 'email-verifier', '"other@c9.test"', true, '{"status":"valid"}', now() + interval '1 day')`,
  );
  return { batchId, runs };
}
