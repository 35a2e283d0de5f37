import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { applyOrder } from '../src/learning/optimizer/apply-order.ts';
import { recommendOrder } from '../src/learning/optimizer/recommend-order.ts';
import { parsePipeline } from '../src/pipelines/load.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

const PIPELINE = `name: opt-test
steps:
  - id: email
    kind: waterfall
    fields: [email]
    providers:
      # the expensive one first
      - provider: apollo
        operation: people-match
        input: &p { domain: "{{account.domain}}", first_name: "{{account.name}}", last_name: "{{account.name}}" }
        output: { email: email }
      - provider: email-pattern
        operation: infer-email
        input: *p
        output: { email: email }
`;

describeEachBackend('sluice optimize from recorded outcomes', (backend) => {
  let db: Db;
  let dir: string;
  let file: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    dir = mkdtempSync(join(tmpdir(), 'sluice-opt-'));
    file = join(dir, 'opt.yaml');
    writeFileSync(file, PIPELINE);
    // 60 records: enterprise accounts 1..30, smb 31..60. Apollo ($0.03 a call) was tried first on every
    // record and found 10 enterprise and 5 smb emails; the free pattern inference, tried after, found
    // 10 of the 20 enterprise misses and 20 of the 25 smb misses.
    await db.query(
      `INSERT INTO accounts (name, domain, segment)
       SELECT 'A' || i, 'a' || i || '.test', CASE WHEN i <= 30 THEN 'enterprise' ELSE 'smb' END
         FROM generate_series(1, 60) i`,
    );
    const batch = (
      await db.query<{ id: number }>(`INSERT INTO batches (pipeline) VALUES ($1) RETURNING id`, [file])
    ).rows[0]!.id;
    for (let i = 1; i <= 60; i++) {
      const ent = i <= 30;
      const k = ent ? i : i - 30;
      const apolloHit = k <= (ent ? 10 : 5);
      const patternHit = !apolloHit && (ent ? k <= 20 : k <= 25);
      const run = (
        await db.query<{ id: number }>(
          `INSERT INTO runs (batch_id, pipeline, account_id, state) VALUES ($1, $2, $3, 'enriched') RETURNING id`,
          [batch, file, i],
        )
      ).rows[0]!.id;
      const attempts = [
        { provider: 'apollo', operation: 'people-match', result: apolloHit ? 'hit' : 'not_found' },
        ...(apolloHit
          ? []
          : [
              {
                provider: 'email-pattern',
                operation: 'infer-email',
                result: patternHit ? 'hit' : 'not_found',
              },
            ]),
      ];
      await db.query(
        `INSERT INTO run_steps (run_id, step_key, status, output) VALUES ($1, 'email', 'found', $2)`,
        [run, JSON.stringify({ status: 'found', writes: [], data: { attempts } })],
      );
      await db.query(
        `INSERT INTO ledger (provider, operation, run_id, batch_id, attempt, cache, status, cost_usd)
         VALUES ('apollo', 'people-match', $1, $2, 1, 'miss', $3, 0.03)`,
        [run, batch, apolloHit ? 'found' : 'not_found'],
      );
    }
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures rates with intervals at list prices and puts the free source first', async () => {
    const r = await recommendOrder(db, { pipeline: file, step: 'email' });
    expect(r.records).toBe(60);
    const [apollo, pattern] = r.providers;
    expect(apollo).toMatchObject({ tried: 60, accepted: 15, price: { hitUsd: 0.03, missUsd: 0.03, n: 60 } });
    expect(apollo!.interval!.low).toBeCloseTo(0.1578, 3); // Wilson 15/60
    expect(pattern).toMatchObject({ tried: 45, accepted: 30, price: { hitUsd: 0, missUsd: 0, n: 0 } });
    expect(r.overall.current).toEqual(['apollo.people-match', 'email-pattern.infer-email']);
    expect(r.overall.recommended).toEqual(['email-pattern.infer-email', 'apollo.people-match']);
    expect(r.overall.currentCostPerRecordUsd).toBeCloseTo(0.03, 6);
    expect(r.overall.recommendedCostPerRecordUsd).toBeLessThan(0.03);
  });

  it('writes one order, or per-segment entries with a `when`, and the file stays valid', async () => {
    await applyOrder(file, (await recommendOrder(db, { pipeline: file, step: 'email' })).ref, {
      orders: new Map([['', [1, 0]]]),
    });
    const once = readFileSync(file, 'utf8');
    expect(once.indexOf('email-pattern')).toBeLessThan(once.indexOf('provider: apollo'));
    expect(once).toContain('# the expensive one first');
    writeFileSync(file, PIPELINE);
    const ref = (await recommendOrder(db, { pipeline: file, step: 'email', segmentBy: 'segment' })).ref;
    await applyOrder(file, ref, {
      orders: new Map([
        ['', [1, 0]],
        ['enterprise', [0, 1]],
      ]),
      segmentBy: 'segment',
    });
    const spec = parsePipeline(readFileSync(file, 'utf8'), file).spec;
    const step = spec.steps[0]!;
    expect(step.kind === 'waterfall' && step.providers.map((p) => `${p.provider} ${p.when}`)).toEqual([
      "apollo account.segment == 'enterprise'",
      "email-pattern account.segment == 'enterprise'",
      "email-pattern not (account.segment in ['enterprise'])",
      "apollo not (account.segment in ['enterprise'])",
    ]);
  });
});
